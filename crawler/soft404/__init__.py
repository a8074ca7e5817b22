"""The page classifier: what status and failures say (status.py), where redirects led and what a 2xx page
shows (classify.py, from page.py's facts and cues.py's multilingual error wording). Host probes are next.
"""
