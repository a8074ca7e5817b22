"""Settings and site configs: good ones load, bad ones fail naming the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.config import crawl_config, store_config
from crawler.errors import ConfigError
from crawler.siteconfig import load_site

SITES = Path(__file__).resolve().parents[2] / "settings" / "sites"


def _project_settings(**overrides: object) -> Settings:
    settings = Settings()
    settings.setmodule("settings.base", priority="project")
    for key, value in overrides.items():
        settings.set(key, value, priority="cmdline")
    return settings


def test_shipped_site_configs_load() -> None:
    demo = load_site("demo", SITES)
    assert [s.name for s in demo.sections] == ["world", "business", "tech", "china", "live"]
    assert demo.domains == ["127.0.0.1"]
    china = load_site("chinadaily", SITES)
    assert china.timezone == "Asia/Shanghai" and china.obey_robots
    assert china.sections[1].url == "https://www.chinadaily.com.cn/business/biz_industries"
    assert china.feeds == ["https://www.chinadaily.com.cn/rss/bizchina_rss.xml"]


@pytest.mark.parametrize(("toml", "expected"), [
    ('max_pages_per_section = "ten"', "key 'max_pages_per_section': Input should be a valid integer"),
    ("sectons = []", "key 'sectons': unknown key"),
    ('article_patterns = ["(unclosed"]', "key 'article_patterns[0]': Value error, not a valid regular expression"),
    ('timezone = "Mars/Olympus"', "key 'timezone': Value error, expected an IANA time zone name"),
    ("[politeness]\ndelay = -1", "key 'politeness.delay': Input should be greater than or equal to 0"),
    ('[[sections]]\nname = "x"\nurl = "world/"', "key 'sections[0].url': Value error, a relative URL must start"),
    ('[[sections]]\nname = "x"', "key 'sections[0].url': Field required"),
])
def test_bad_site_config_names_file_key_and_expectation(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(f'base_url = "https://news.example/"\n{toml}\n')
    with pytest.raises(ConfigError) as info:
        load_site("broken", tmp_path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_unparsable_toml_and_missing_site(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("base_url = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_site("bad", tmp_path)
    with pytest.raises(ConfigError, match=r"known sites in .*: bad"):
        load_site("absent", tmp_path)


def test_base_url_override_moves_same_origin_urls_only(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        'base_url = "https://news.example/"\nfeeds = ["/rss.xml", "https://feeds.other.example/news.xml"]\n'
        '[[sections]]\nname = "world"\nurl = "/world/?page=1"\n')
    site = load_site("s", tmp_path).with_base_url("http://127.0.0.1:9999/")
    assert site.sections[0].url == "http://127.0.0.1:9999/world/?page=1"
    assert site.feeds == ["http://127.0.0.1:9999/rss.xml", "https://feeds.other.example/news.xml"]
    assert site.domains == ["127.0.0.1"]


def test_settings_defaults_are_valid() -> None:
    settings = _project_settings()
    assert store_config(settings).uri == "file://./data/store"
    assert crawl_config(settings).progress == "auto"


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("STORE_URI", "ftp://host/x", "expected a file:// or s3:// URI"),
    ("STORE_PART_MAX_RECORDS", "many", "valid integer"),
    ("CRAWL_PROGRESS", "sometimes", "'auto', 'on' or 'off'"),
    ("CRAWL_ID", "a/b", "should match pattern"),
])
def test_bad_setting_names_key_and_source(key: str, value: str, expected: str) -> None:
    settings = _project_settings(**{key: value})
    with pytest.raises(ConfigError) as info:
        store_config(settings) if key.startswith("STORE") else crawl_config(settings)
    assert str(info.value).startswith(f"the command line (-s): key '{key}'")
    assert expected in str(info.value)
