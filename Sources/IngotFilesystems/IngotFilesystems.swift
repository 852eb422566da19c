// IngotFilesystems module placeholder.
enum IngotFilesystemsModule {}
