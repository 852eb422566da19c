// IngotDisk module placeholder.
enum IngotDiskModule {}
