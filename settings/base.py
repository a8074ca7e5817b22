"""Default settings: Scrapy's that we change, then ours, one prefix per subsystem.

Every setting of ours is read once, at start-up, into a typed config (`crawler/config.py`) that rejects a
bad value with the key's name. Override any of them with `-s KEY=VALUE` on the command line.
"""

import os

# Scrapy's cookie middleware splits domains with tldextract, which downloads the Public Suffix List on first
# use: a request outside the crawl log, and on an offline machine a traceback. Use the list bundled with
# tldextract unless the environment names one (TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS is tldextract's own).
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

# --- Scrapy -----------------------------------------------------------------------------------------------
BOT_NAME = "palimpsest"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
COMMANDS_MODULE = "crawler.commands"
# One add-on installs every middleware, extension and pipeline of ours at its order.
ADDONS = {"crawler.addon.PalimpsestAddon": 0}
# Identify ourselves honestly; sites block anonymous crawlers, and webmasters deserve a way to reach us.
USER_AGENT = "Palimpsest/0.1 (news archiving crawler; Scrapy)"
# robots.txt is obeyed unless a site config says `obey_robots = false`.
ROBOTSTXT_OBEY = True
# Both open local servers; a crawler has no business listening on ports.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
# Politeness comes from each site config ([politeness] delay / concurrency_per_host); these are the ceilings.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
# Items and requests of one response handled in parallel. Scrapy starts this many asyncio tasks for every
# callback's output (100 by default: 30,000 tasks for a 300-page crawl, a tenth of the reactor's time);
# a page yields one article or a listing's links, and our pipelines do not wait on I/O.
CONCURRENT_ITEMS = 4
DOWNLOAD_TIMEOUT = 30
# Transient failures are retried twice before they are logged as `error` (never as proof of deletion).
RETRY_TIMES = 2
# News pages above 32 MiB are not news pages; warn from 8 MiB. With archiving on, a longer body is cut at the
# limit and archived with `WARC-Truncated: length` instead of being dropped.
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
# Depth is bounded by the site config (max_pages per section, max_depth for sub-sections), not by Scrapy.
DEPTH_LIMIT = 0
LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"

# --- NETWORK_*: which addresses a crawl may connect to (crawler/netguard.py, crawler/guard.py) --------------
# Every connection's resolved address is checked (the browser's through crawler/browserguard.py): loopback,
# private (RFC 1918, fc00::/7), link-local (the cloud metadata address 169.254.169.254 among them), CGNAT,
# multicast and reserved addresses are refused. A site config's `allow_private_networks = true` opens
# loopback, private and CGNAT; networks listed here are allowed whatever they are, e.g.
# NETWORK_ALLOW = ["10.1.2.0/24"] (or -s NETWORK_ALLOW=127.0.0.1/32,10.1.2.3/32). The connection to a
# configured proxy (http_proxy / https_proxy, meta["proxy"]) is allowed; the proxy resolves the target.
NETWORK_ALLOW: list[str] = []
# Scrapy's caching resolver, checking every answer against the policy above.
TWISTED_DNS_RESOLVER = "crawler.guard.GuardedResolver"

# --- CRAWL_*: identity and operation of one crawl ----------------------------------------------------------
# Directory holding the site configs (`NAME.toml`), relative to the project root.
CRAWL_SITES_DIR = "settings/sites"
# Crawl id; empty means SITE-YYYYMMDDTHHMMSSZ from the start time (UTC).
CRAWL_ID = ""
# Processes reading pages beside the crawler (parse, classify, extract: CPU-bound Python); -1 means one per
# core but one, 0 reads them inline in the crawler's own thread (for debugging).
CRAWL_PAGE_WORKERS = -1
# Seconds one page may keep a worker busy; past it the page is logged with no verdict and reason `too-slow`.
CRAWL_PAGE_TIMEOUT = 60
# Progress line on stderr: "auto" (only when stderr is a terminal), "on" or "off".
CRAWL_PROGRESS = "auto"
# Where the crawl's requests wait: "memory" (one process), or "redis": the frontier and the duplicate filter in
# Redis (REDIS_URL, scrapy-redis), shared by every worker started with the same CRAWL_ID, on any machine.
CRAWL_FRONTIER = "memory"
# This worker's name in a distributed crawl (in its WARC and part file names); empty: HOST-PID.
CRAWL_WORKER = ""
# A worker whose heartbeat is older than this is taken for dead: the requests it held are queued again.
CRAWL_WORKER_TIMEOUT = "30s"
# Redis of the distributed frontier (scrapy-redis's setting), e.g. redis://:password@redis.internal:6379/0.
REDIS_URL = ""

# --- LIMIT_*: bounded work per page (crawler/limits.py) --------------------------------------------------------
# What goes past a limit is archived as received (WARC-Truncated where cut), logged once with its reason and
# counted in `limits/<reason>`; a page that could not be read whole gets verdict `error`, never `soft-404`.
# DOWNLOAD_MAXSIZE bounds the raw body and, decoded as a stream, the body after Content-Encoding; the parser
# follows 256 levels of nesting (lxml, huge_tree off); CRAWL_PAGE_TIMEOUT bounds the time spent on one page.
# A body past DOWNLOAD_MAXSIZE once decoded, from this many times fewer raw bytes, is a `decompression-bomb`
# (else `too-large`); HTML compresses 5-20 times, a bomb a thousand times or more.
LIMIT_BOMB_RATIO = 100
# Response headers: more of them than this is `too-many-headers`, more bytes `headers-too-large` (browsers
# refuse 256 KiB of headers); such a response is archived and not read.
LIMIT_HEADER_COUNT = 500
LIMIT_HEADER_BYTES = 256 * 1024
# Links read from one page (outlinks in its metadata record; a listing's links): the first this many are kept
# and the rest counted (`too-many-links`).
LIMIT_PAGE_LINKS = 5000
# A title longer than this many characters is cut there (`long-title`) in the crawl log and the metadata.
LIMIT_TITLE_CHARS = 1000
# Bytes of one page's HTML that are parsed (the whole body is archived): a news page is 0.1-1 MB, and the
# parser's tree takes 10-20 times the HTML (a 32 MB page of a million links held ~700 MB in its worker).
# Past it the page is read from its first bytes and logged `partly-read`; it is never called dead.
LIMIT_PARSE_BYTES = 8 * 1024 * 1024

# --- ARCHIVE_*: WARC capture -------------------------------------------------------------------------------
# Write every HTTP exchange (request, response, redirects, errors pages, robots.txt) to WARC files.
ARCHIVE_ENABLED = True
# A WARC file is closed (and stored, with its CDXJ) once it reaches this many bytes, and at the end.
ARCHIVE_MAX_FILE_SIZE = 1_000_000_000
# First part of the IIPC file name: PREFIX-YYYYMMDDHHMMSSmmm-SERIAL-HOST.warc.gz
ARCHIVE_PREFIX = "PALIMPSEST"
# Write a revisit record instead of a payload already archived (in this crawl or an earlier one of the store).
ARCHIVE_DEDUP = True
# Where the cross-crawl digest index lives (one SQLite file per store and digest): a cache of the store's
# CDXJ, updated as WARCs land and caught up at crawl start. Empty: deduplicate within the crawl only.
ARCHIVE_DEDUP_INDEX_DIR = "./data/index"
# Exchanges handed to the archive writer thread and not yet written; past this, downloads wait (backpressure).
ARCHIVE_QUEUE = 64
# Digest of payloads and blocks: "sha1" (what CDX tools and pywb expect) or "sha256". Deduplication only
# matches digests of the same algorithm, so keep one per store.
ARCHIVE_DIGEST = "sha1"
# At the end of a complete crawl, also package it as a WACZ at crawls/CRAWL_ID/wacz/CRAWL_ID.wacz (`scrapy wacz`).
ARCHIVE_WACZ = False

# --- SOFT404_*: telling live pages from pages that only look alive ----------------------------------------
# Probe each host (per URL shape) with a URL that cannot exist, and compare doubtful pages with its answer.
SOFT404_PROBES = True
# Seconds a probe's answer stays valid for its host and URL shape.
SOFT404_PROBE_TTL = 6 * 3600
# Before its first probe, a crawl reuses the answers recent crawls of the site got (younger than the TTL),
# from their `probes` parts, found through the catalog when one exists (crawler/soft404/learned.py).
SOFT404_PROBE_REUSE = True

# --- RENDER_*: pages that need a browser (Chromium through scrapy-playwright) -------------------------------
# Let pages go through Chromium at all; site configs say which (render = "never" | "always" | "auto").
RENDER_ENABLED = True
# Chromium to use; empty: Playwright's own (`playwright install chromium`), else /usr/bin/chromium.
RENDER_BROWSER_PATH = ""
# Pages open in the browser at once (each costs 50-150 MB); rendered requests beyond wait their turn.
RENDER_MAX_PAGES = 2
# Pages per browser context before it is closed and a fresh one opened: keeps the browser's memory bounded.
RENDER_CONTEXT_PAGES = 50
# Seconds for a navigation, and for each page action (wait for a selector, one click and what it loads).
RENDER_TIMEOUT = 30.0
# Subresources the browser loads (XHR/fetch, scripts, styles, images, fonts) are archived up to this size.
RENDER_SUBRESOURCE_MAX_BYTES = 5 * 1024 * 1024
# Archive a full-page screenshot of each rendered page (a `resource` record, urn:screenshot:URL).
RENDER_SCREENSHOT = True

# --- PIPELINE_*: what happens to article items -------------------------------------------------------------
# Detect the language of items when neither the page nor the site declares one (py3langid, in the page worker;
# its model ships with the package and is loaded only when first needed).
PIPELINE_DETECT_LANGUAGE = True
# Store a copy of a story already stored (same text, or a simhash this many bits away or fewer) as a link.
PIPELINE_NEAR_DUPLICATE_BITS = 3

# --- STORE_*: where a crawl's files go ---------------------------------------------------------------------
# Store root; the layout under it is in the README. file:// paths are relative to the working directory.
STORE_URI = "file://./data/store"
# Local directory where files are written until complete, then moved (or uploaded) into the store.
STORE_SPOOL_DIR = "./data/spool"
# A crawl-log or item part is closed and stored after this many records ...
STORE_PART_MAX_RECORDS = 10000
# ... or this many uncompressed bytes, whichever comes first.
STORE_PART_MAX_BYTES = 64 * 1024 * 1024
# S3 endpoint (MinIO, Ceph, R2...); empty: boto3's chain (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then AWS).
STORE_S3_ENDPOINT_URL = ""
# S3 region; empty: boto3's chain (AWS_DEFAULT_REGION, ~/.aws/config).
STORE_S3_REGION = ""
# "path" for most S3-compatible servers, "virtual" for AWS buckets with dots, "auto" lets boto3 choose.
STORE_S3_ADDRESSING = "auto"
# Seconds to connect to S3: short, so a dead endpoint fails fast and the uploader retries.
STORE_S3_CONNECT_TIMEOUT = 10
# Seconds S3 may take to answer one request (read timeout; one multipart part must fit in it). botocore makes
# one attempt per request: the uploader is the one retry policy (it spans an outage and keeps a deadline).
STORE_S3_TIMEOUT = 60
# While the crawl runs no upload is given up: a failing file waits in the spool, retried at least every
# STORE_UPLOAD_MAX_BACKOFF. Once the crawl ends, a file failing for this many seconds (since its first failure)
# stays in the spool, the manifest says `complete: false` and lists it, and the crawl exits non-zero
# (`scrapy store-sync` stores it later).
STORE_S3_GIVE_UP = 600
# Threads moving finished files into the store.
STORE_UPLOAD_WORKERS = 4
# Seconds before a failed upload is retried, doubled per failure (with jitter) up to STORE_UPLOAD_MAX_BACKOFF.
STORE_UPLOAD_BACKOFF = 0.5
# Longest wait between two attempts of one file.
STORE_UPLOAD_MAX_BACKOFF = 30
# fsync every finished file (and its directory) before it is renamed into place: a power cut loses no file.
STORE_FSYNC = True
# Files above this size are uploaded in parts (each part checksummed by S3).
STORE_MULTIPART_THRESHOLD = 64 * 1024 * 1024

# --- AUDIT_*: the catalog of every capture, rechecks and `scrapy audit` (archive/catalog.py, archive/audit.py) -
# The catalog: a local SQLite cache of the store's capture history, rebuilt from the store alone. Empty: one
# file per store under AUDIT_CATALOG_DIR (named after the store URI), so two stores never share one.
AUDIT_CATALOG = ""
AUDIT_CATALOG_DIR = "./data/catalog"
# Processes reading and parsing a crawl's log and item parts while the catalog is updated (0: in-process).
AUDIT_WORKERS = 2
# When an archived article is due for a recheck, by age since it was first seen: after each of these, then
# again every last one (decaying: a fresh story changes most in its first hours). Units: s, m, h, d, w.
AUDIT_RECHECK_CADENCE = ["1h", "6h", "1d", "3d", "7d", "30d"]
# A `deleted` is `confirmed` once two not-found fetches at least this far apart agree (a CMS glitch or a
# botched deploy answers 404 for an hour; a deletion still answers it a day later).
AUDIT_CONFIRM_AFTER = "1d"
# Text similarity (0-1) at which a live URL's story counts as found at another URL: a dead URL whose story
# appears at a new URL in a later crawl (no redirect) is `moved` at or above this ...
AUDIT_MOVED_SIMILARITY = 0.9
# ... and a redirect to another URL is `moved` when the page there carries the story at or above this
# (below it, the redirect replaced the story with another page: `soft-deleted`).
AUDIT_REDIRECT_SIMILARITY = 0.5
# Simhash distance (bits of 64) under which two texts are compared as candidates for a move.
AUDIT_SIMHASH_BITS = 6

# --- REPLAY_*: `scrapy replay`, reading the archive back (archive/replay.py) -----------------------------------
# Where the replay server listens: loopback unless told otherwise (it serves everything the archive holds).
REPLAY_BIND = "127.0.0.1"
# The server's own pages, raw replay (/web/TSid_/URL), Memento TimeGate and TimeMaps (0: any free port).
REPLAY_PORT = 8090
# Browsing replay (ReplayWeb.page) runs on a second origin, so archived scripts never share an origin with
# the replay UI (0: any free port).
REPLAY_BROWSE_PORT = 8091
# The capture index (SQLite, every CDXJ line of the store). Empty: one file per store under REPLAY_INDEX_DIR.
REPLAY_INDEX = ""
REPLAY_INDEX_DIR = "./data/catalog"
# How often the server looks for new crawls in the store (finished crawls are not read again). Units: s, m, h.
REPLAY_REFRESH = "60s"
# ReplayWeb.page's ui.js and sw.js (installed by `make replayweb`, pinned by version and integrity hash).
REPLAY_ASSETS_DIR = "./.replayweb"
# WACZ files built on demand for browsing a crawl the store holds no WACZ of (ARCHIVE_WACZ off).
REPLAY_CACHE_DIR = "./data/replay-cache"

# --- REPROCESS_*: `scrapy reprocess SOURCE...`, spiders and pipelines re-run over archived captures -------------
# The capture index of the sources (SQLite). Empty: a temporary file for the run, deleted after; a path keeps
# it, so the next run of the same store reads only the crawls and files that changed.
REPROCESS_INDEX = ""
# Each URL is answered from its capture nearest to this UTC time (YYYYMMDDhhmmss, or a prefix such as 2026).
# Empty: the earliest start among the sources, i.e. a crawl's own first capture of each URL.
REPROCESS_AT = ""
# Requests answered from the archive at once (no politeness: nothing goes to the network).
REPROCESS_CONCURRENCY = 32

# --- SCHEDULE_*: `scrapy schedule`, each site crawled and rechecked on its own cron (crawler/schedule.py) ------
# Which sites' schedules run (names of site configs in CRAWL_SITES_DIR); empty: every site with a `schedule`
# or a `recheck` and `enabled = true`.
SCHEDULE_SITES: list[str] = []
# The scheduler's state (SQLite): runs, outcomes, exit codes, how far each cron has been looked at. One
# scheduler per state file (it is locked); a restarted scheduler resumes from it.
SCHEDULE_STATE = "./data/schedule/schedule.sqlite"
# One log file per run (`CRAWL_ID.log`); a failed run's last lines are also kept in the state.
SCHEDULE_LOG_DIR = "./data/schedule/logs"
# Runs at once, all sites together; a due run beyond waits for a free one. One site never runs twice at once.
SCHEDULE_MAX_RUNS = 2
# A run still going after this long is interrupted (SIGINT), then killed SCHEDULE_STOP_TIMEOUT later. Units: s, m, h.
SCHEDULE_RUN_TIMEOUT = "6h"
# How long an interrupted run (timeout, or the scheduler stopping) gets to close its files before SIGKILL.
SCHEDULE_STOP_TIMEOUT = "60s"
# Slots that passed while the scheduler was not running: "once" runs the newest of them at start, "skip" none.
SCHEDULE_MISSED = "once"
# A slot noticed this late (a busy machine, a restart) still counts as on time, not as missed.
SCHEDULE_GRACE = "5m"
# A failed run is retried after each of these waits in turn, then not before its job's next slot.
SCHEDULE_RETRY = ["5m", "15m", "1h"]

