// IngotBoot module placeholder.
enum IngotBootModule {}
