"""Regenerate tests/data/logs/: real tool failures wrapped as GitHub Actions job logs.

    /work/main/.venv/bin/python tests/data/make_corpus.py

Each case writes a small broken project into a temporary directory, runs a real tool on it and
wraps what the tool printed the way the Actions runner does: a timestamp on every line,
`##[group]Run ...`/`##[endgroup]` around each step's header, `##[error]Process completed with
exit code N.` after the failing step, post-job cleanup after that. The tool output is real,
stdout and stderr merged as the runner merges them; only paths are rewritten to a runner's
(`/home/runner/work/<repo>/<repo>`, `/opt/hostedtoolcache/Python/<version>/x64`) so no local
path leaks in. The steps before it (runner banner, checkout, setup-python or setup-node,
pip/npm/apt installs) are generated, deterministically per case, from text copied off real
runs: they are the few hundred lines of noise a cutter has to see through.

`<name>.expected` is the ground truth: the cleaned lines a reader would point at as the failure.
They are picked per case by patterns written for that case's known output, never by the cutter's
own rules; the script stops if a pattern matches nothing, so a tool whose output changed is
noticed instead of silently shrinking the ground truth.

Needs: the project venv with pytest and ruff, mypy (`pip install mypy` into the venv; it is not
a project dependency), gcc and make, node and npm, and a second CPython (3.12: $CORPUS_PYTHON312,
`python3.12` on PATH, or a pyenv install) for the matrix pair. pytest runs under it from the
venv's own pure-Python packages, so nothing needs installing there. Timestamps and the noise
are seeded by case name; from one run to the next only what the tools report changes (test
durations, object addresses).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOGS = HERE / "logs"
sys.path.insert(0, str(HERE.parents[1]))

from app.analysis.excerpt import clean  # noqa: E402  (needs the repo root on sys.path)

PY = sys.executable
PY_VERSION = ".".join(map(str, sys.version_info[:3]))
SITE = sysconfig.get_paths()["purelib"]
RUNNER_PY = "/opt/hostedtoolcache/Python/{}/x64"
# A terminal's width on a runner: pytest pads its section lines and truncates summaries to it.
COLUMNS = "80"

# --- projects ------------------------------------------------------------------------------------

SHOP = {
    "pyproject.toml": """\
[project]
name = "shop"
version = "0.1.0"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
""",
    "src/shop/__init__.py": "",
    "src/shop/cart.py": """\
from __future__ import annotations

import warnings
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    unit_price: float


def total(prices: list[float], discount: float = 0.0) -> float:
    subtotal = sum(prices)
    discounted = subtotal * (1 - discount)
    return round(discounted * (1 - discount), 2)


def invoice_lines(lines: list[Line]) -> list[dict[str, object]]:
    return [
        {
            "sku": line.sku,
            "quantity": line.quantity,
            "amount": round(line.quantity * line.unit_price, 2),
            "currency": "EUR",
        }
        for line in lines
    ]


def legacy_total(prices: list[float]) -> float:
    warnings.warn("legacy_total() is deprecated, use total()", DeprecationWarning, stacklevel=2)
    return total(prices)
""",
    "src/shop/catalog.py": """\
from __future__ import annotations


def slug(name: str) -> str:
    return "-".join(name.lower().split())


def price_band(price: float) -> str:
    if price < 10:
        return "low"
    if price < 100:
        return "mid"
    return "high"
""",
    "tests/test_cart.py": """\
import pytest

from shop.cart import Line, invoice_lines, legacy_total, total


def test_empty():
    assert total([]) == 0


@pytest.mark.parametrize("n", range(24))
def test_no_discount(n):
    assert total([1.5] * n) == 1.5 * n


def test_discount():
    assert total([10.0, 20.0], discount=0.1) == 27.0


def test_legacy_total():
    assert legacy_total([1.0, 2.0]) == 3.0


def test_invoice_lines():
    lines = [Line("SKU-1", 2, 9.99), Line("SKU-2", 1, 4.5)]
    assert invoice_lines(lines) == [
        {"sku": "SKU-1", "quantity": 2, "amount": 19.98, "currency": "USD"},
        {"sku": "SKU-2", "quantity": 1, "amount": 4.5, "currency": "USD"},
    ]
""",
    "tests/test_catalog.py": """\
import pytest

from shop.catalog import price_band, slug


@pytest.mark.parametrize(
    "name", ["Blue Mug", "Red  Kettle", "tea POT", "Oak Shelf", "Desk Lamp", "Wool Rug"]
)
def test_slug_has_no_spaces(name):
    assert " " not in slug(name)


@pytest.mark.parametrize("price", [0.5, 1, 5, 9.99, 10, 50, 99.99, 100, 250, 1000])
def test_price_band_is_known(price):
    assert price_band(price) in {"low", "mid", "high"}
""",
}

LEDGER = {
    "pyproject.toml": """\
[project]
name = "ledger"
version = "0.3.1"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
""",
    "src/ledger/__init__.py": "",
    "src/ledger/db.py": """\
from __future__ import annotations

from urllib.parse import urlsplit


class Connection:
    def __init__(self, host: str, database: str) -> None:
        self.host = host
        self.database = database
        self.rows: list[tuple[str, int]] = []

    def insert(self, account: str, cents: int) -> None:
        self.rows.append((account, cents))

    def close(self) -> None:
        self.rows.clear()


def connect(url: str | None) -> Connection:
    if not url:
        raise RuntimeError("DATABASE_URL is not set: start the postgres service or export it")
    parts = urlsplit(url)
    return Connection(parts.hostname or "localhost", parts.path.lstrip("/"))
""",
    "src/ledger/money.py": """\
from __future__ import annotations


def parse_cents(text: str) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def format_cents(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
""",
    "tests/conftest.py": """\
import os

import pytest

from ledger.db import connect


@pytest.fixture
def db():
    conn = connect(os.environ.get("DATABASE_URL"))
    yield conn
    conn.close()
""",
    "tests/test_money.py": """\
import pytest

from ledger.money import format_cents, parse_cents


@pytest.mark.parametrize("text,cents", [("1", 100), ("1.5", 150), ("0.07", 7), ("12.34", 1234)])
def test_parse_cents(text, cents):
    assert parse_cents(text) == cents


@pytest.mark.parametrize("cents", [0, 7, 150, 1234, 99999])
def test_round_trip(cents):
    assert parse_cents(format_cents(cents)) == cents
""",
    "tests/test_postings.py": """\
def test_insert_posting(db):
    db.insert("cash", 1250)
    assert db.rows == [("cash", 1250)]


def test_balance_starts_empty(db):
    assert db.rows == []


def test_close_clears_rows(db):
    db.insert("cash", 1)
    db.close()
    assert db.rows == []
""",
}

WEBHOOKS = {
    "pyproject.toml": """\
[project]
name = "webhooks"
version = "1.2.0"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
""",
    "src/webhooks/__init__.py": "",
    "src/webhooks/signing.py": """\
from __future__ import annotations

import hashlib
import hmac


def verify(secret: bytes, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
""",
    "src/webhooks/routes.py": """\
from __future__ import annotations

ROUTES = {"push": "on_push", "pull_request": "on_pull_request"}


def handler_for(event: str) -> str | None:
    return ROUTES.get(event)
""",
    "tests/test_routes.py": """\
from webhooks.routes import handler_for


def test_known_event():
    assert handler_for("push") == "on_push"


def test_unknown_event():
    assert handler_for("star") is None
""",
    "tests/test_signing.py": """\
from webhooks.signing import verify_signature


def test_valid_signature():
    header = "sha256=" + "0" * 64
    assert not verify_signature(b"secret", b"{}", header)
""",
}

SETTINGS = {
    "pyproject.toml": """\
[project]
name = "settings"
version = "0.9.0"
requires-python = ">=3.11"

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
""",
    "src/settings/__init__.py": "",
    "src/settings/config.py": """\
from __future__ import annotations

import json
from pathlib import Path

DEFAULTS = {"debug": False, "workers": 4, "log_level": "info"}


def load(path: Path) -> dict[str, object]:
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    return {**DEFAULTS, **data}
""",
    "tests/example.json": '{\n  "debug": true,\n  "workers": 8,\n}\n',
    "tests/test_config.py": """\
import sys
from pathlib import Path

import pytest

from settings.config import DEFAULTS, load

HERE = Path(__file__).parent


def test_defaults_are_complete():
    assert set(DEFAULTS) == {"debug", "workers", "log_level"}


def test_load_example():
    config = load(HERE / "example.json")
    assert config["workers"] == 8


def test_load_empty(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("{}")
    assert load(path) == DEFAULTS


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="distutils-era layout only on <3.12")
def test_legacy_layout(tmp_path):
    path = tmp_path / "legacy.json"
    path.write_text('{"workers": 2}')
    assert load(path)["workers"] == 2


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_log_level_override(tmp_path, level):
    path = tmp_path / "level.json"
    path.write_text('{"log_level": "%s"}' % level)
    assert load(path)["log_level"] == level
""",
}

INVENTORY = {
    "pyproject.toml": """\
[project]
name = "inventory"
version = "0.4.0"
requires-python = ">=3.11"

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "I", "B", "UP"]
""",
    "src/inventory/__init__.py": "",
    "src/inventory/stock.py": """\
import os
import json
from typing import Dict, Optional


def load_stock(path: str) -> Dict[str, int]:
    with open(path) as f:
        return json.load(f)


def reserve(stock: Dict[str, int], sku: str, count: int, log: list = []) -> Optional[int]:
    if stock.get(sku) == None:
        return None
    stock[sku] -= count
    log.append((sku, count))
    return stock[sku]
""",
    "src/inventory/report.py": """\
from inventory.stock import load_stock


def low_stock(path: str, threshold: int = 5) -> list[str]:
    stock = load_stock(path)
    try:
        return sorted(sku for sku, n in stock.items() if n < threshold)
    except:
        return []


def summary(path):
    l = load_stock(path)
    return f"{len(l)} items, {sum(l.values())} units, {missing} missing"
""",
}

NOTIFY = {
    "pyproject.toml": """\
[project]
name = "notify"
version = "2.1.0"
requires-python = ">=3.11"

[tool.ruff.lint]
select = ["E", "F", "B", "UP", "SIM"]
""",
    "notify/__init__.py": "",
    "notify/mail.py": """\
import smtplib
import sys
from typing import List


def send(to: List[str], subject: str, body: str, retries: int = 3) -> bool:
    for attempt in range(retries):
        try:
            with smtplib.SMTP("localhost") as smtp:
                smtp.sendmail("noreply@example.com", to, f"Subject: {subject}\\n\\n{body}")
                return True
        except Exception as e:
            pass
    return False
""",
    "notify/slack.py": """\
def format_message(user, text):
    if user is not None:
        if text:
            return "<@%s> %s" % (user, text)
    return text
""",
}

LEGACY_FUNCTIONS = """
vat_standard vat_reduced vat_zero vat_reverse_charge vat_margin discount_loyalty discount_bulk
discount_seasonal fee_late fee_card fee_wire fee_currency refund_partial refund_full credit_note
rounding_bank rounding_cash interest_daily interest_monthly penalty
"""

BILLING = {
    "pyproject.toml": """\
[project]
name = "billing"
version = "0.2.0"
requires-python = ">=3.11"

[tool.mypy]
strict = true

[tool.ruff.lint]
select = ["E", "F", "I"]
""",
    "src/billing/__init__.py": "",
    "src/billing/models.py": """\
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Customer:
    id: int
    email: str
    vat_id: str | None = None


@dataclass
class Invoice:
    customer: Customer
    lines: list[tuple[str, int]]

    def total_cents(self) -> int:
        return sum(cents for _, cents in self.lines)
""",
    "src/billing/service.py": """\
from __future__ import annotations

from billing.models import Customer, Invoice

CUSTOMERS: dict[int, Customer] = {}


def find_customer(customer_id: int) -> Customer:
    return CUSTOMERS.get(customer_id)


def vat_country(customer: Customer) -> str:
    return customer.vat_id[:2]


def invoice_for(customer_id: int, lines: list[tuple[str, int]]) -> Invoice:
    customer = find_customer(customer_id)
    return Invoice(customer, lines, currency="EUR")


def totals(invoices):
    return [invoice.total_cents() for invoice in invoices]


def describe(invoice: Invoice) -> str:
    return "%s: %d cents" % (invoice.customer.email, invoice.total_cents)
""",
    # Code from before the project turned strict: one error per function, the way a large
    # untyped module fails when it is first checked.
    "src/billing/legacy.py": "from __future__ import annotations\n\n\n"
    + "\n\n".join(
        f"def {name}(invoice, rate=0.2):\n    return round(invoice.total_cents() * rate)\n"
        for name in LEGACY_FUNCTIONS.split()
    ),
}

CRC_HEADER = """\
#ifndef CRC_H
#define CRC_H

#include <stddef.h>
#include <stdint.h>

struct buffer {
    unsigned char *data;
    size_t len;
};

struct buffer *read_file(const char *path);
void free_buffer(struct buffer *buf);
uint32_t crc32_update(uint32_t crc, const unsigned char *data, size_t len);

#endif
"""

CRC_BUFFER = """\
#include <stdio.h>
#include <stdlib.h>

#include "crc.h"

struct buffer *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    struct buffer *buf = calloc(1, sizeof *buf);
    int chunk = 4096;
    unsigned char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, chunk, f)) > 0) {
        buf->data = realloc(buf->data, buf->len + n);
        for (int i = 0; i < n; i++) buf->data[buf->len + i] = tmp[i];
        buf->len += n;
    }
    fclose(f);
    return buf;
}

void free_buffer(struct buffer *buf) {
    free(buf->data);
    free(buf);
}
"""

CRC_TABLE = """\
#include "crc.h"

static uint32_t table[256];
static int ready;

static void init_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    ready = 1;
}

uint32_t crc32_update(uint32_t crc, const unsigned char *data, size_t len) {
    if (!ready) init_table();
    crc = ~crc;
    for (size_t i = 0; i < len; i++) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
"""

CRC_MAKEFILE = """\
CC = gcc
CFLAGS = -std=c11 -Wall -Wextra -O2 {color}
OBJS = build/buffer.o build/crc32.o build/main.o

crc: $(OBJS)
\t$(CC) $(CFLAGS) -o $@ $^

build/%.o: src/%.c src/crc.h | build
\t$(CC) $(CFLAGS) -c -o $@ $<

build:
\tmkdir -p build
"""

CRC_COMPILE = {
    "Makefile": CRC_MAKEFILE.format(color="-fdiagnostics-color=always"),
    "src/crc.h": CRC_HEADER,
    "src/buffer.c": CRC_BUFFER,
    "src/crc32.c": CRC_TABLE,
    "src/main.c": """\
#include <stdio.h>

#include "crc.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\\n", argv[0]);
        return 2;
    }
    struct buffer buf = read_file(argv[1]);
    uint32_t crc = crc32_update(buf.data, buf.len);
    printf("%08x  %s\\n", crc, argv[1]);
    return 0;
}
""",
}

CRC_LINK = {
    "Makefile": CRC_MAKEFILE.format(color=""),
    "src/crc.h": CRC_HEADER.replace(
        "uint32_t crc32_update(",
        "uint32_t crc32_combine(uint32_t a, uint32_t b, size_t len_b);\nuint32_t crc32_update(",
    ),
    "src/buffer.c": CRC_BUFFER,
    "src/crc32.c": CRC_TABLE,
    "src/main.c": """\
#include <stdio.h>

#include "crc.h"

int main(int argc, char **argv) {
    uint32_t total = 0;
    size_t total_len = 0;
    for (int i = 1; i < argc; i++) {
        struct buffer *buf = read_file(argv[i]);
        if (!buf) {
            perror(argv[i]);
            return 1;
        }
        uint32_t crc = crc32_update(0, buf->data, buf->len);
        total = crc32_combine(total, crc, buf->len);
        total_len += buf->len;
        free_buffer(buf);
    }
    printf("%08x  %zu bytes\\n", total, total_len);
    return 0;
}
""",
}

REPORT = {
    "pyproject.toml": """\
[project]
name = "report"
version = "0.1.0"
requires-python = ">=3.11"
""",
    "src/report/__init__.py": "",
    "src/report/render.py": """\
from __future__ import annotations


def table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return ""
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    lines = [" ".join(h.ljust(widths[h]) for h in headers)]
    for row in rows:
        lines.append(" ".join(row[h].ljust(widths[h]) for h in headers))
    return "\\n".join(lines)
""",
    "src/report/totals.py": """\
from __future__ import annotations


def by_month(entries: list[tuple[str, int]]) -> dict[str, int]:
    months: dict[str, int] = {}
    for day, cents in entries:
        month = day[:7]
        months[month] = months.get(month, 0) + cents
    return {
        month: cents
        for month, cents in sorted(months.items())
        if cents > 0
    ]
""",
}

SLUGIFY_TEST = """\
const { describe, it } = require('node:test');
const assert = require('node:assert');
const { slugify, truncate } = require('../index.js');

describe('slugify', () => {
%s
  it('strips punctuation', () => {
    assert.strictEqual(slugify('Hello, World!'), 'hello-world');
  });
  it('folds accents', () => {
    assert.strictEqual(slugify('Crème Brûlée'), 'creme-brulee');
  });
});

describe('truncate', () => {
  it('keeps short strings', () => {
    assert.strictEqual(truncate('abc', 5), 'abc');
  });
  it('cuts long strings', () => {
    assert.strictEqual(truncate('abcdefgh', 5), 'abcd…');
  });
});
"""

SLUG_WORDS = """
alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa
"""

SLUGIFY = {
    "package.json": """\
{
  "name": "slugify-lite",
  "version": "3.0.1",
  "private": true,
  "scripts": {
    "test": "node --test test/"
  }
}
""",
    "index.js": """\
function slugify(text) {
  return text.toLowerCase().trim().replace(/\\s+/g, '-');
}

function truncate(text, max) {
  return text.length <= max ? text : text.slice(0, max - 1) + '…';
}

module.exports = { slugify, truncate };
""",
    "test/slugify.test.js": SLUGIFY_TEST
    % "\n".join(
        f"  it('lowercases {word}', () => {{\n"
        f"    assert.strictEqual(slugify('{word.upper()}'), '{word}');\n  }});"
        for word in SLUG_WORDS.split()
    ),
}


# --- the runner's noise --------------------------------------------------------------------------

PIP_PACKAGES = (
    ("annotated-types", "0.7.0", 13),
    ("anyio", "4.3.0", 85),
    ("certifi", "2024.2.2", 163),
    ("cffi", "1.16.0", 464),
    ("click", "8.1.7", 97),
    ("coverage", "7.5.0", 235),
    ("cryptography", "42.0.5", 4600),
    ("h11", "0.14.0", 58),
    ("httpcore", "1.0.5", 77),
    ("httpx", "0.27.0", 75),
    ("hypothesis", "6.100.2", 458),
    ("idna", "3.7", 66),
    ("iniconfig", "2.0.0", 5),
    ("jinja2", "3.1.3", 133),
    ("markupsafe", "2.1.5", 28),
    ("mypy-extensions", "1.0.0", 4),
    ("packaging", "24.0", 53),
    ("pluggy", "1.5.0", 20),
    ("pycparser", "2.22", 117),
    ("pydantic", "2.7.1", 409),
    ("pydantic-core", "2.18.2", 2100),
    ("pygments", "2.17.2", 1200),
    ("pytest", "8.2.0", 339),
    ("pytest-cov", "5.0.0", 21),
    ("python-dateutil", "2.9.0.post0", 229),
    ("pyyaml", "6.0.1", 757),
    ("six", "1.16.0", 11),
    ("sniffio", "1.3.1", 10),
    ("sortedcontainers", "2.4.0", 29),
    ("typing-extensions", "4.11.0", 34),
)

APT_PACKAGES = (
    ("libcmocka0", "1.1.5-2build1", 16),
    ("libcmocka-dev", "1.1.5-2build1", 21),
    ("valgrind", "1:3.18.1-1ubuntu2", 14400),
    ("libc6-dbg", "2.35-0ubuntu3.7", 7200),
    ("cppcheck", "2.7-1", 2100),
)

NPM_DEPRECATIONS = (
    "inflight@1.0.6: This module is not supported, and leaks memory. Do not use it. Check out "
    "lru-cache if you want a good and tested way to coalesce async requests by a key value, "
    "which is much more comprehensive and powerful.",
    "glob@7.2.3: Glob versions prior to v9 are no longer supported",
    "rimraf@3.0.2: Rimraf versions prior to v4 are no longer supported",
    "@humanwhocodes/config-array@0.11.14: Use @eslint/config-array instead",
    "@humanwhocodes/object-schema@2.0.3: Use @eslint/object-schema instead",
)


@dataclass
class Noise:
    """Deterministic filler for one job: same case name, same lines."""

    repo: str
    rng: random.Random

    @property
    def workspace(self) -> str:
        return f"/home/runner/work/{self.repo}/{self.repo}"

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def uuid(self) -> str:
        h = self.hex(32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def runner_banner(noise: Noise, *, job: str, actions: Sequence[str]) -> list[str]:
    lines = [
        "Current runner version: '2.316.1'",
        "##[group]Operating System",
        "Ubuntu",
        "22.04.4",
        "LTS",
        "##[endgroup]",
        "##[group]Runner Image",
        "Image: ubuntu-22.04",
        "Version: 20240422.1.0",
        "Included Software: https://github.com/actions/runner-images/blob/ubuntu22/20240422.1/"
        "images/ubuntu/Ubuntu2204-Readme.md",
        "Image Release: https://github.com/actions/runner-images/releases/tag/ubuntu22%2F20240422.1",
        "##[endgroup]",
        "##[group]Runner Image Provisioner",
        "2.0.369.1",
        "##[endgroup]",
        "##[group]GITHUB_TOKEN Permissions",
        "Contents: read",
        "Metadata: read",
        "Packages: read",
        "##[endgroup]",
        "Secret source: Actions",
        "Prepare workflow directory",
        "Prepare all required actions",
        "Getting action download info",
    ]
    lines += [f"Download action repository '{a}' (SHA:{noise.hex(40)})" for a in actions]
    lines.append(f"Complete job name: {job}")
    return lines


def checkout(noise: Noise) -> list[str]:
    sha, pr, ws = noise.hex(40), noise.rng.randint(40, 400), noise.workspace
    git = "[command]/usr/bin/git"
    extraheader = r"http\.https\:\/\/github\.com\/\.extraheader"
    objects = noise.rng.randint(40, 160)
    lines = [
        "##[group]Run actions/checkout@v4",
        "with:",
        f"  repository: acme/{noise.repo}",
        "  token: ***",
        "  ssh-strict: true",
        "  ssh-user: git",
        "  persist-credentials: true",
        "  clean: true",
        "  sparse-checkout-cone-mode: true",
        "  fetch-depth: 1",
        "  fetch-tags: false",
        "  show-progress: true",
        "  lfs: false",
        "  submodules: false",
        "  set-safe-directory: true",
        "##[endgroup]",
        f"Syncing repository: acme/{noise.repo}",
        "##[group]Getting Git version info",
        f"Working directory is '{ws}'",
        f"{git} version",
        "git version 2.44.0",
        "##[endgroup]",
        f"Temporarily overriding HOME='/home/runner/work/_temp/{noise.uuid()}' before making "
        "global git config changes",
        "Adding repository directory to the temporary git global config as a safe directory",
        f"{git} config --global --add safe.directory {ws}",
        f"Deleting the contents of '{ws}'",
        "##[group]Initializing the repository",
        f"{git} init {ws}",
        "hint: Using 'master' as the name for the initial branch. This default branch name",
        "hint: is subject to change. To configure the initial branch name to use in all",
        "hint: of your new repositories, which will suppress this warning, call:",
        "hint: ",
        "hint: \tgit config --global init.defaultBranch <name>",
        "hint: ",
        "hint: Names commonly chosen instead of 'master' are 'main', 'trunk' and",
        "hint: 'development'. The just-created branch can be renamed via this command:",
        "hint: ",
        "hint: \tgit branch -m <name>",
        f"Initialized empty Git repository in {ws}/.git/",
        f"{git} remote add origin https://github.com/acme/{noise.repo}",
        "##[endgroup]",
        "##[group]Disabling automatic garbage collection",
        f"{git} config --local gc.auto 0",
        "##[endgroup]",
        "##[group]Setting up auth",
        f"{git} config --local --name-only --get-regexp core\\.sshCommand",
        f'{git} submodule foreach --recursive sh -c "git config --local --name-only '
        "--get-regexp 'core\\.sshCommand' && git config --local --unset-all 'core.sshCommand' "
        '|| :"',
        f"{git} config --local --name-only --get-regexp {extraheader}",
        f'{git} submodule foreach --recursive sh -c "git config --local --name-only '
        f"--get-regexp '{extraheader}' && git config --local --unset-all '{extraheader}' || :\"",
        f"{git} config --local http.https://github.com/.extraheader AUTHORIZATION: basic ***",
        "##[endgroup]",
        "##[group]Fetching the repository",
        f"{git} -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules --depth=1 "
        f"origin +{sha}:refs/remotes/pull/{pr}/merge",
        f"remote: Enumerating objects: {objects}, done.        ",
    ]
    for label in ("Counting", "Compressing"):
        for pct in (1, 12, 25, 38, 50, 63, 75, 88, 100):
            n = max(1, objects * pct // 100)
            lines.append(f"remote: {label} objects: {pct:3d}% ({n}/{objects})        ")
        lines.append(f"remote: {label} objects: 100% ({objects}/{objects}), done.        ")
    lines += [
        f"remote: Total {objects} (delta 4), reused {objects - 9} (delta 1), pack-reused 0        ",
        f"From https://github.com/acme/{noise.repo}",
        f" * [new ref]         {sha} -> pull/{pr}/merge",
        "##[endgroup]",
        "##[group]Determining the checkout info",
        "##[endgroup]",
        f"{git} sparse-checkout disable",
        f"{git} config --local --unset-all extensions.worktreeConfig",
        "##[group]Checking out the ref",
        f"{git} checkout --progress --force refs/remotes/pull/{pr}/merge",
        f"Note: switching to 'refs/remotes/pull/{pr}/merge'.",
        "",
        "You are in 'detached HEAD' state. You can look around, make experimental",
        "changes and commit them, and you can discard any commits you make in this",
        "state without impacting any branches by switching back to a branch.",
        "",
        "If you want to create a new branch to retain commits you create, you may",
        "do so (now or later) by using -c with the switch command. Example:",
        "",
        "  git switch -c <new-branch-name>",
        "",
        "Or undo this operation with:",
        "",
        "  git switch -",
        "",
        "Turn off this advice by setting config variable advice.detachedHead to false",
        "",
        f"HEAD is now at {sha[:7]} Merge {noise.hex(40)} into {noise.hex(40)}",
        "##[endgroup]",
        f"{git} log -1 --format='%H'",
        f"'{sha}'",
    ]
    return lines


def python_env(version: str) -> list[str]:
    root = RUNNER_PY.format(version)
    return [
        "env:",
        f"  pythonLocation: {root}",
        f"  PKG_CONFIG_PATH: {root}/lib/pkgconfig",
        f"  Python_ROOT_DIR: {root}",
        f"  Python2_ROOT_DIR: {root}",
        f"  Python3_ROOT_DIR: {root}",
        f"  LD_LIBRARY_PATH: {root}/lib",
    ]


def setup_python(noise: Noise, version: str) -> list[str]:
    minor = ".".join(version.split(".")[:2])
    return [
        "##[group]Run actions/setup-python@v5",
        "with:",
        f"  python-version: {minor}",
        "  cache: pip",
        "  check-latest: false",
        "  token: ***",
        "  update-environment: true",
        "  allow-prereleases: false",
        "##[endgroup]",
        "##[group]Installed versions",
        f"Successfully set up CPython ({version})",
        "##[endgroup]",
        f"[command]/opt/hostedtoolcache/Python/{version}/x64/bin/pip cache dir",
        "/home/runner/.cache/pip",
        f"Cache hit for: setup-python-Linux-22.04-Ubuntu-python-{version}-pip-{noise.hex(64)}",
        "Received 8388608 of 40213766 (20.9%), 8.0 MBs/sec",
        "Received 40213766 of 40213766 (100.0%), 26.1 MBs/sec",
        "Cache Size: ~38 MB (40213766 B)",
        f"[command]/usr/bin/tar -xf /home/runner/work/_temp/{noise.uuid()}/cache.tzst -P -C "
        f"{noise.workspace} --use-compress-program unzstd",
        "Cache restored successfully",
        f"Cache restored from key: setup-python-Linux-22.04-Ubuntu-python-{version}-pip-"
        f"{noise.hex(64)}",
    ]


def pip_install(noise: Noise, version: str, *, project: str, extra: str) -> list[str]:
    minor = ".".join(version.split(".")[:2])
    site = f"{RUNNER_PY.format(version)}/lib/python{minor}/site-packages"
    lines = [
        "##[group]Run python -m pip install --upgrade pip",
        "python -m pip install --upgrade pip",
        f'python -m pip install -e ".[{extra}]"',
        "shell: /usr/bin/bash -e {0}",
        *python_env(version),
        "##[endgroup]",
        f"Requirement already satisfied: pip in {site} (24.0)",
        f"Obtaining file://{noise.workspace}",
        "  Installing build dependencies: started",
        "  Installing build dependencies: finished with status 'done'",
        "  Checking if build backend supports build_editable: started",
        "  Checking if build backend supports build_editable: finished with status 'done'",
        "  Getting requirements to build editable: started",
        "  Getting requirements to build editable: finished with status 'done'",
        "  Preparing editable metadata (pyproject.toml): started",
        "  Preparing editable metadata (pyproject.toml): finished with status 'done'",
    ]
    for name, pkg_version, _ in PIP_PACKAGES:
        wheel = f"{name.replace('-', '_')}-{pkg_version}-py3-none-any.whl"
        lines += [
            f"Collecting {name}>={pkg_version.split('.')[0]} (from {project}==0.1.0)",
            f"  Downloading {wheel}.metadata ({noise.rng.randint(2, 12)}.{noise.rng.randint(0, 9)}"
            " kB)",
        ]
    for name, pkg_version, kb in PIP_PACKAGES:
        wheel = f"{name.replace('-', '_')}-{pkg_version}-py3-none-any.whl"
        size = f"{kb / 1000:.1f} MB" if kb >= 1000 else f"{kb} kB"
        done = f"{kb / 1000:.1f}/{kb / 1000:.1f} MB" if kb >= 1000 else f"{kb}.0/{kb}.0 kB"
        speed = f"{noise.rng.uniform(5, 60):.1f} MB/s"
        lines += [
            f"Downloading {wheel} ({size})",
            f"   {'━' * 40} {done} {speed} eta 0:00:00",
        ]
    names = ", ".join(name for name, _, _ in PIP_PACKAGES)
    installed = " ".join(f"{name}-{v}" for name, v, _ in PIP_PACKAGES)
    lines += [
        f"Building wheels for collected packages: {project}",
        f"  Building editable for {project} (pyproject.toml): started",
        f"  Building editable for {project} (pyproject.toml): finished with status 'done'",
        f"  Created wheel for {project}: filename={project}-0.1.0-0.editable-py3-none-any.whl "
        f"size={noise.rng.randint(2000, 9000)} sha256={noise.hex(64)}",
        f"  Stored in directory: /tmp/pip-ephem-wheel-cache-{noise.hex(8)}/wheels/"
        f"{noise.hex(2)}/{noise.hex(2)}/{noise.hex(2)}/{noise.hex(56)}",
        f"Successfully built {project}",
        f"Installing collected packages: {names}, {project}",
        f"Successfully installed {installed} {project}-0.1.0",
        "",
        "[notice] A new release of pip is available: 24.0 -> 24.1",
        "[notice] To update, run: pip install --upgrade pip",
    ]
    return lines


def apt_install(noise: Noise) -> list[str]:
    names = " ".join(name for name, _, _ in APT_PACKAGES)
    lines = [
        f"##[group]Run sudo apt-get update && sudo apt-get install -y --no-install-recommends "
        f"{names}",
        f"sudo apt-get update && sudo apt-get install -y --no-install-recommends {names}",
        "shell: /usr/bin/bash -e {0}",
        "##[endgroup]",
        "Get:1 file:/etc/apt/apt-mirrors.txt Mirrorlist [142 B]",
        "Hit:2 http://azure.archive.ubuntu.com/ubuntu jammy InRelease",
        "Get:6 https://packages.microsoft.com/ubuntu/22.04/prod jammy InRelease [3632 B]",
        "Get:3 http://azure.archive.ubuntu.com/ubuntu jammy-updates InRelease [128 kB]",
        "Get:4 http://azure.archive.ubuntu.com/ubuntu jammy-backports InRelease [127 kB]",
        "Get:5 http://azure.archive.ubuntu.com/ubuntu jammy-security InRelease [129 kB]",
    ]
    for n, (suite, part) in enumerate(
        [
            ("jammy-updates", "main amd64 Packages"),
            ("jammy-updates", "main Translation-en"),
            ("jammy-updates", "universe amd64 Packages"),
            ("jammy-updates", "universe Translation-en"),
            ("jammy-security", "main amd64 Packages"),
            ("jammy-security", "universe amd64 Packages"),
            ("jammy-backports", "universe amd64 Packages"),
        ],
        start=7,
    ):
        size = noise.rng.randint(20, 1800)
        lines.append(f"Get:{n} http://azure.archive.ubuntu.com/ubuntu {suite}/{part} [{size} kB]")
    lines += [
        "Fetched 6456 kB in 2s (3204 kB/s)",
        "Reading package lists...",
        "Reading package lists...",
        "Building dependency tree...",
        "Reading state information...",
        "The following additional packages will be installed:",
        "  libcmocka0 libc6-dbg",
        "Suggested packages:",
        "  valgrind-dbg valgrind-mpi kcachegrind alleyoop valkyrie cppcheck-gui",
        "The following NEW packages will be installed:",
        f"  {names}",
        f"0 upgraded, {len(APT_PACKAGES)} newly installed, 0 to remove and 31 not upgraded.",
        "Need to get 23.7 MB of archives.",
        "After this operation, 118 MB of additional disk space will be used.",
    ]
    for n, (name, version, kb) in enumerate(APT_PACKAGES, start=1):
        lines.append(
            f"Get:{n} http://azure.archive.ubuntu.com/ubuntu jammy/universe amd64 {name} amd64 "
            f"{version} [{kb} kB]"
        )
    lines += [
        "debconf: unable to initialize frontend: Dialog",
        "debconf: (Dialog frontend will not work on a dumb terminal, an emacs shell buffer, or "
        "without a controlling terminal.)",
        "debconf: falling back to frontend: Readline",
        "debconf: unable to initialize frontend: Readline",
        "debconf: (This frontend requires a controlling terminal.)",
        "debconf: falling back to frontend: Teletype",
        "dpkg-preconfigure: unable to re-open stdin: ",
        "Fetched 23.7 MB in 1s (31.6 MB/s)",
    ]
    for name, version, _ in APT_PACKAGES:
        lines.append(f"Selecting previously unselected package {name}:amd64.")
        lines.append("(Reading database ... ")
        lines += [f"(Reading database ... {pct}%" for pct in range(5, 101, 5)]
        lines.append("(Reading database ... 226134 files and directories currently installed.)")
        deb = version.replace(":", "%3a")
        lines.append(f"Preparing to unpack .../{name}_{deb}_amd64.deb ...")
        lines.append(f"Unpacking {name}:amd64 ({version}) ...")
    lines += [f"Setting up {name}:amd64 ({version}) ..." for name, version, _ in APT_PACKAGES]
    lines += [
        "Processing triggers for libc-bin (2.35-0ubuntu3.7) ...",
        "Processing triggers for man-db (2.10.2-1) ...",
        "NEEDRESTART-VER: 3.5",
        "NEEDRESTART-KCUR: 6.5.0-1018-azure",
        "NEEDRESTART-KEXP: 6.5.0-1018-azure",
        "NEEDRESTART-KSTA: 1",
    ]
    return lines


def setup_node(noise: Noise, node: str, npm: str) -> list[str]:
    key = f"node-cache-Linux-x64-npm-{noise.hex(64)}"
    return [
        "##[group]Run actions/setup-node@v4",
        "with:",
        f"  node-version: {node.split('.')[0]}",
        "  cache: npm",
        "  always-auth: false",
        "  check-latest: false",
        "  token: ***",
        "##[endgroup]",
        f"Found in cache @ /opt/hostedtoolcache/node/{node}/x64",
        "##[group]Environment details",
        f"node: v{node}",
        f"npm: {npm}",
        "yarn: 1.22.22",
        "##[endgroup]",
        f"[command]/opt/hostedtoolcache/node/{node}/x64/bin/npm config get cache",
        "/home/runner/.npm",
        f"Cache hit for: {key}",
        "Received 15118950 of 15118950 (100.0%), 21.4 MBs/sec",
        "Cache Size: ~14 MB (15118950 B)",
        f"[command]/usr/bin/tar -xf /home/runner/work/_temp/{noise.uuid()}/cache.tzst -P -C "
        f"{noise.workspace} --use-compress-program unzstd",
        "Cache restored successfully",
        f"Cache restored from key: {key}",
        "##[group]Run npm ci",
        "npm ci",
        "shell: /usr/bin/bash -e {0}",
        "##[endgroup]",
        *[f"npm warn deprecated {text}" for text in NPM_DEPRECATIONS],
        "",
        f"added {noise.rng.randint(200, 500)} packages, and audited "
        f"{noise.rng.randint(500, 600)} packages in 6s",
        "",
        f"{noise.rng.randint(60, 120)} packages are looking for funding",
        "  run `npm fund` for details",
        "",
        "found 0 vulnerabilities",
    ]


def post_cleanup(noise: Noise) -> list[str]:
    git = "[command]/usr/bin/git"
    extraheader = r"http\.https\:\/\/github\.com\/\.extraheader"
    return [
        "Post job cleanup.",
        f"{git} version",
        "git version 2.44.0",
        f"Temporarily overriding HOME='/home/runner/work/_temp/{noise.uuid()}' before making "
        "global git config changes",
        "Adding repository directory to the temporary git global config as a safe directory",
        f"{git} config --global --add safe.directory {noise.workspace}",
        f"{git} config --local --name-only --get-regexp core\\.sshCommand",
        f'{git} submodule foreach --recursive sh -c "git config --local --name-only '
        "--get-regexp 'core\\.sshCommand' && git config --local --unset-all 'core.sshCommand' "
        '|| :"',
        f"{git} config --local --name-only --get-regexp {extraheader}",
        "http.https://github.com/.extraheader",
        f"{git} config --local --unset-all http.https://github.com/.extraheader",
        f'{git} submodule foreach --recursive sh -c "git config --local --name-only '
        f"--get-regexp '{extraheader}' && git config --local --unset-all '{extraheader}' || :\"",
        "Cleaning up orphan processes",
    ]


# --- running tools -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One `run:` step: the script shown in its header and the command actually run."""

    script: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    env_block: Sequence[str] = ()


@dataclass(frozen=True)
class Case:
    name: str
    repo: str
    files: dict[str, str]
    setup: Callable[[Noise], list[str]]
    steps: Sequence[Step]  # every step but the last must pass
    expect: Sequence[str]  # regexes over the failing step's cleaned output
    job: str
    actions: Sequence[str] = ("actions/checkout@v4", "actions/setup-python@v5")
    rewrites: dict[str, str] = field(default_factory=dict)


def python312() -> str:
    candidates = [os.environ.get("CORPUS_PYTHON312", ""), shutil.which("python3.12") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")))
    for candidate in filter(None, candidates):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if done.stdout.strip() == "True":
                return candidate
    raise SystemExit("no CPython 3.12 found: set CORPUS_PYTHON312 to one")


def pure_pytest(into: Path) -> Path:
    """The venv's pytest and its pure-Python dependencies, importable from another CPython."""
    into.mkdir()
    for pattern in (
        "pytest",
        "_pytest",
        "py.py",
        "pluggy",
        "iniconfig",
        "packaging",
        "pygments",
        "pytest-*.dist-info",
        "pluggy-*.dist-info",
        "iniconfig-*.dist-info",
        "packaging-*.dist-info",
        "pygments-*.dist-info",
    ):
        for path in glob.glob(os.path.join(SITE, pattern)):
            (into / os.path.basename(path)).symlink_to(path)
    return into


def interpreter_version(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def write_project(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run(step: Step, cwd: Path) -> tuple[int, list[str]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("npm_", "NPM_", "PYTEST_", "PY_COLORS", "FORCE_COLOR", "NO_COLOR"))
    }
    env.update(COLUMNS=COLUMNS, LC_ALL="C.UTF-8", PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0")
    env.update(step.env)
    done = subprocess.run(
        list(step.argv),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout.split("\n")
    if output and output[-1] == "":
        output.pop()
    return done.returncode, output


def rewrite(lines: list[str], replacements: dict[str, str]) -> list[str]:
    ordered = sorted(replacements.items(), key=lambda kv: -len(kv[0]))
    result = []
    for line in lines:
        for old, new in ordered:
            line = line.replace(old, new)
        result.append(line)
    return result


def timestamps(lines: Sequence[str], rng: random.Random, start: dt.datetime) -> Iterator[str]:
    now = start
    for line in lines:
        # Runner lines come in bursts: mostly microseconds apart, now and then a pause.
        pause = rng.choice([0, 0, 0, 1, 2, 5]) * 1000 + rng.randint(0, 999)
        if line.startswith("##[group]Run "):
            pause += rng.randint(200_000, 2_000_000)
        now += dt.timedelta(microseconds=pause)
        ticks = now.microsecond * 10 + rng.randint(0, 9)
        yield f"{now:%Y-%m-%dT%H:%M:%S}.{ticks:07d}Z {line}"


def build(case: Case, index: int, workdir: Path) -> None:
    rng = random.Random(case.name)
    noise = Noise(case.repo, rng)
    project = workdir / case.name / case.repo
    write_project(project, case.files)
    replacements = {str(project): noise.workspace, **case.rewrites}

    lines = runner_banner(noise, job=case.job, actions=case.actions)
    lines += checkout(noise)
    lines += case.setup(noise)
    failing: list[str] = []
    code = 0
    for n, step in enumerate(case.steps, start=1):
        code, output = run(step, project)
        last = n == len(case.steps)
        if (code != 0) != last:
            shown = "\n".join(output[-30:])
            raise SystemExit(f"{case.name}: step {step.script!r} exited {code}\n{shown}")
        script = step.script.split("\n")
        lines += [
            f"##[group]Run {script[0]}",
            *script,
            "shell: /usr/bin/bash -e {0}",
            *step.env_block,
            "##[endgroup]",
        ]
        output = rewrite(output, replacements)
        lines += output
        failing = output
    exit_line = f"##[error]Process completed with exit code {code}."
    lines.append(exit_line)
    lines += post_cleanup(noise)

    start = dt.datetime(2024, 5, 1, 12, 0, 0) + dt.timedelta(minutes=7 * index)
    text = "\n".join(timestamps(lines, rng, start)) + "\n"
    (LOGS / f"{case.name}.log").write_text(text, encoding="utf-8")
    expected = [*ground_truth(case, failing), exit_line]
    (LOGS / f"{case.name}.expected").write_text("\n".join(expected) + "\n", encoding="utf-8")


def ground_truth(case: Case, output: Sequence[str]) -> list[str]:
    cleaned = [clean(line) for line in output]
    chosen: list[str] = []
    for pattern in map(re.compile, case.expect):
        hits = [line for line in cleaned if pattern.search(line)]
        if not hits:
            raise SystemExit(f"{case.name}: nothing in the output matches {pattern.pattern!r}")
        chosen += hits
    keep = set(chosen)
    # Log order, once each: the order a reader meets them in.
    return list(dict.fromkeys(line for line in cleaned if line in keep))


# --- the cases -----------------------------------------------------------------------------------


def cases(workdir: Path) -> list[Case]:
    py312 = python312()
    v312 = interpreter_version(py312)
    pure = pure_pytest(workdir / "pure-pytest")
    runner311, runner312 = RUNNER_PY.format(PY_VERSION), RUNNER_PY.format(v312)
    base311 = sys.base_prefix
    base312 = str(Path(py312).resolve().parents[1])
    python_paths = {
        # The venv's packages stand in for what pip installed into the runner's interpreter.
        SITE: f"{runner311}/lib/python3.11/site-packages",
        sys.prefix: runner311,
        base311: runner311,
        str(pure): f"{runner312}/lib/python3.12/site-packages",
        base312: runner312,
    }

    def python_setup(extra: str, version: str = PY_VERSION) -> Callable[[Noise], list[str]]:
        def setup(noise: Noise) -> list[str]:
            return setup_python(noise, version) + pip_install(
                noise, version, project=noise.repo, extra=extra
            )

        return setup

    def c_setup(noise: Noise) -> list[str]:
        return apt_install(noise)

    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    npm = subprocess.run(["npm", "--version"], capture_output=True, text=True, check=True)
    node_version, npm_version = node.stdout.strip().lstrip("v"), npm.stdout.strip()

    def node_setup(noise: Noise) -> list[str]:
        return setup_node(noise, node_version, npm_version)

    env311 = python_env(PY_VERSION)
    pytest_expect_matrix = [
        r"^_+ test_load_example _+$",
        r"^>\s+config = load\(",
        r"^src/settings/config\.py:\d+: in load$",
        r"^E\s",
        r"^FAILED ",
        r"^=+ .*\bfailed\b.* =+$",
    ]

    def matrix(name: str, python: str, version: str, extra_env: dict[str, str]) -> Case:
        return Case(
            name=name,
            repo="settings",
            files=SETTINGS,
            setup=python_setup("test", version),
            steps=[
                Step(
                    "pytest -ra --color=yes",
                    [python, "-m", "pytest", "-ra", "--color=yes", "-p", "no:cacheprovider"],
                    env=extra_env,
                    env_block=python_env(version),
                )
            ],
            expect=pytest_expect_matrix,
            job=f"test ({'.'.join(version.split('.')[:2])})",
            rewrites=python_paths,
        )

    return [
        Case(
            name="pytest_assert",
            repo="shop",
            files=SHOP,
            setup=python_setup("test"),
            steps=[
                Step(
                    "pytest -v --color=yes",
                    [PY, "-m", "pytest", "-v", "--color=yes", "-p", "no:cacheprovider"],
                    env_block=env311,
                )
            ],
            expect=[
                r"^_+ test_(discount|invoice_lines) _+$",
                r"^>\s+assert ",
                r"^E\s+\S",
                r"^tests/test_cart\.py:\d+: AssertionError$",
                r"^FAILED ",
                r"^=+ .*\bfailed\b.* =+$",
            ],
            job="test (3.11)",
            rewrites=python_paths,
        ),
        Case(
            name="pytest_fixture_error",
            repo="ledger",
            files=LEDGER,
            setup=python_setup("test"),
            steps=[
                Step(
                    "pytest -ra",
                    [PY, "-m", "pytest", "-ra", "-p", "no:cacheprovider"],
                    env={"DATABASE_URL": ""},
                    env_block=env311,
                )
            ],
            expect=[
                r"^_+ ERROR at setup of ",
                r"^tests/conftest\.py:\d+: in db$",
                r"^>\s+raise RuntimeError\(",
                r"^E\s+RuntimeError",
                r"^src/ledger/db\.py:\d+: RuntimeError$",
                r"^ERROR tests/",
                r"^=+ .*\berrors?\b.* =+$",
            ],
            job="test",
            rewrites=python_paths,
        ),
        Case(
            name="pytest_import_error",
            repo="webhooks",
            files=WEBHOOKS,
            setup=python_setup("test"),
            steps=[
                Step(
                    "pytest",
                    [PY, "-m", "pytest", "-p", "no:cacheprovider"],
                    env_block=env311,
                )
            ],
            expect=[
                r"^_+ ERROR collecting ",
                r"^ImportError while importing test module",
                r"^tests/test_signing\.py:1: in <module>$",
                r"^\s+from webhooks\.signing import verify_signature$",
                r"^E\s+ImportError",
                r"^ERROR tests/",
                r"Interrupted: ",
            ],
            job="test",
            rewrites=python_paths,
        ),
        matrix("pytest_matrix_py311", PY, PY_VERSION, {}),
        matrix(
            "pytest_matrix_py312",
            py312,
            v312,
            # Only pytest and its pure-Python dependencies: no plugins, like a fresh install.
            {"PYTHONPATH": str(pure), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        ),
        Case(
            name="ruff_concise",
            repo="inventory",
            files=INVENTORY,
            setup=python_setup("lint"),
            steps=[
                Step(
                    "ruff check --output-format=concise .",
                    [
                        os.path.join(os.path.dirname(PY), "ruff"),
                        "check",
                        "--no-cache",
                        "--output-format=concise",
                        ".",
                    ],
                    env={"FORCE_COLOR": "1"},
                    env_block=[*env311, "  FORCE_COLOR: 1"],
                )
            ],
            expect=[r"^src/inventory/\S+:\d+:\d+: [A-Z]+\d+ ", r"^Found \d+ errors"],
            job="lint",
            rewrites=python_paths,
        ),
        Case(
            name="ruff_full",
            repo="notify",
            files=NOTIFY,
            setup=python_setup("lint"),
            steps=[
                Step(
                    "ruff check .",
                    [os.path.join(os.path.dirname(PY), "ruff"), "check", "--no-cache", "."],
                    env_block=env311,
                )
            ],
            expect=[r"^[A-Z]+\d+ ", r"^\s*--> notify/", r"^Found \d+ errors"],
            job="lint",
            rewrites=python_paths,
        ),
        Case(
            name="mypy",
            repo="billing",
            files=BILLING,
            setup=python_setup("typing"),
            steps=[
                Step(
                    "ruff check --output-format=concise src",
                    [
                        os.path.join(os.path.dirname(PY), "ruff"),
                        "check",
                        "--no-cache",
                        "--output-format=concise",
                        "src",
                    ],
                    env_block=env311,
                ),
                Step(
                    "mypy src",
                    [PY, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", "src"],
                    env={"MYPYPATH": "src"},
                    env_block=env311,
                ),
            ],
            expect=[r": error: ", r"^Found \d+ errors"],
            job="typecheck",
            rewrites=python_paths,
        ),
        Case(
            name="gcc_compile",
            repo="crc",
            files=CRC_COMPILE,
            setup=c_setup,
            steps=[Step("make", ["make"])],
            expect=[r": error: ", r"^make: \*\*\* "],
            job="build",
            actions=("actions/checkout@v4",),
        ),
        Case(
            name="gcc_link",
            repo="crc",
            files=CRC_LINK,
            setup=c_setup,
            steps=[Step("make", ["make"])],
            expect=[r"undefined reference to", r"collect2: error", r"^make: \*\*\* "],
            job="build",
            actions=("actions/checkout@v4",),
        ),
        Case(
            name="compileall",
            repo="report",
            files=REPORT,
            setup=python_setup("dev"),
            steps=[
                Step(
                    "python -m compileall -q src",
                    [PY, "-m", "compileall", "-q", "src"],
                    env_block=env311,
                )
            ],
            expect=[r"^\*\*\* Error compiling", r'^\s*File "src/', r"^SyntaxError: "],
            job="check",
            rewrites=python_paths,
        ),
        Case(
            name="node_test",
            repo="slugify-lite",
            files=SLUGIFY,
            setup=node_setup,
            steps=[
                Step(
                    "npm test",
                    ["npm", "test", "--userconfig=/dev/null"],
                    # No registry lookups: the update notice would need the network.
                    env={"npm_config_update_notifier": "false"},
                )
            ],
            expect=[
                r"^\s*not ok \d+ - ",
                r"^\s+location: ",
                r"^\s+(expected|actual): ",
                r"^# fail ",
            ],
            job="test",
            actions=("actions/checkout@v4", "actions/setup-node@v4"),
            rewrites={os.path.expanduser("~"): "/home/runner"},
        ),
    ]


def main() -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in [*LOGS.glob("*.log"), *LOGS.glob("*.expected")]:
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="hookwise-corpus-") as tmp:
        workdir = Path(tmp)
        for index, case in enumerate(cases(workdir)):
            build(case, index, workdir)
            size = (LOGS / f"{case.name}.log").stat().st_size
            expected = (LOGS / f"{case.name}.expected").read_text().count("\n")
            print(f"{case.name:24} {size:>8,} bytes  {expected:>3} expected lines")


if __name__ == "__main__":
    main()
