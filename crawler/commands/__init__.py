"""Our scrapy subcommands (COMMANDS_MODULE): demo, and more to come (soft404, replay, reprocess, audit...)."""
