// The ingot executable: everything lives in IngotCommands.
import IngotCommands

await Ingot.start()
