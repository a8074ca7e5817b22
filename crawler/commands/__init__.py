"""Our scrapy subcommands (COMMANDS_MODULE): demo, and more to come (soft404, replay, reprocess, audit...).

Scrapy imports this package on every `scrapy` invocation of the project, before any crawler logs its
`Overridden settings`: the place to make sure no command (ours or Scrapy's own, `shell` and `fetch` among
them) prints a credential at start-up (crawler/secrets.py).
"""

from crawler.secrets import install_log_redaction

install_log_redaction()
