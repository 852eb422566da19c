// IngotSpec module placeholder.
enum IngotSpecModule {}
