"""Spiders: `news` crawls a site from its config."""
