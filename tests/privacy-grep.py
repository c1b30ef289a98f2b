#!/usr/bin/env python3
"""After a full test run: look for every test message in everything the service logged during the run.

Usage: python3 tests/privacy-grep.py LOGFILE CORPUS.jsonl [CORPUS.jsonl ...]
Exits 1 (and names the message) if any message of 12 or more characters appears in the log, case-insensitively.
"""
import json
import sys

log_path, corpora = sys.argv[1], sys.argv[2:]
with open(log_path, encoding="utf-8", errors="replace") as f:
    log = f.read().lower()
messages = []
for path in corpora:
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                text = json.loads(line).get("text", "")
                if len(text) >= 12:
                    messages.append(text)
found = [m for m in messages if m.lower() in log]
lines = log.count("\n")
if found:
    print(f"privacy: {len(found)} of {len(messages)} test messages appear in the service log ({lines} lines), e.g. {found[0]!r}")
    sys.exit(1)
print(f"privacy: none of {len(messages)} test messages appears in the {lines} lines the service logged during the run")
