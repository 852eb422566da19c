// IngotSources module placeholder.
enum IngotSourcesModule {}
