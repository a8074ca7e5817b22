"""Everything that outlives a crawl: the store, part files, (later) WARCs, CDXJ, catalog, replay, audit."""
