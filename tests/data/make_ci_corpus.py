"""Regenerate tests/data/ci/: real tool failures from many ecosystems, as CI shows them.

    .venv/bin/python tests/data/make_ci_corpus.py [name-prefix ...]

Like tests/data/make_corpus.py, each case writes a small project, runs the real tool on it and
wraps what the tool printed. Two wrappers:

- `actions`: a GitHub Actions job log (timestamps, `##[group]`/`##[endgroup]`, the tools' own
  colour codes, `##[error]Process completed with exit code N.`), with the runner's generated
  setup steps before it (make_corpus's banner, checkout, setup-*, installs).
- `check`: what hookwise reads for a third-party check run (app/handlers/fixes.py, `evidence`):
  the output's title, summary and text (the console tail in a code block, as Jenkins and
  Buildkite post it), then one `path:line: failure: message` line per annotation. The
  annotations are parsed from the tool's real output by the case's `annotate` pattern.

Every case runs twice: on the PR's head (the broken project: `<name>.log`) and on the base
branch (the project with `fix` applied, where every step passes: `<name>.base.log.gz`, the
last green log of the same job, for base-branch differencing; gzipped to keep the corpus small).

`<name>.expected` is the ground truth: the cleaned lines of the failing step a reader would
point at (errors, their notes, the assertion and the project's own frames, the totals), picked
by patterns written for that case's known output, never by the cutter's rules; the script stops
when a pattern matches nothing. Cases live under `ci/<ecosystem>/`.

Needs: java 17 and mvn (plugins in ~/.m2, run offline), gradle (Debian's 4.4.1), kotlinc
(Debian's 1.3.31: the Kotlin Gradle and Maven plugins need Maven Central), go, cargo with
clippy, node with the JS tools in $CORPUS_NODE_MODULES (npm install jest@29.7.0 vitest@1.6.0
typescript@5.4.5 eslint@8.57.0), ruby with rspec, gcc, cmake, and the project venv (pytest,
ruff, mypy).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "ci"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import make_corpus as mc  # noqa: E402  (the runner's noise and the Actions wrapping)

from app.analysis.excerpt import clean  # noqa: E402

NODE_MODULES = Path(os.environ.get("CORPUS_NODE_MODULES", "/tmp/wt21_tools/js/node_modules"))
M2 = Path.home() / ".m2" / "repository"
PY = sys.executable
BIN = Path(PY).parent

# --- cases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    script: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    env_block: Sequence[str] = ()


@dataclass(frozen=True)
class Case:
    name: str
    eco: str
    repo: str
    files: dict[str, str]
    fix: dict[str, str]
    steps: list[Step]
    expect: list[str]
    setup: Callable[[mc.Noise], list[str]]
    job: str = "build"
    actions: tuple[str, ...] = ("actions/checkout@v4",)
    wrap: str = "actions"
    # check runs: (pattern with groups path, line, message) over the cleaned failing output.
    annotate: tuple[str, ...] = ()
    check_app: str = "Jenkins"
    annotate_path: str = "tests/test_shapes.cpp"
    # Lines of generated noise printed by the failing step itself before the tool's output
    # (dependency downloads), as a function of the noise source.
    preamble: Callable[[mc.Noise], list[str]] | None = None


def run(step: Step, cwd: Path, home: Path) -> tuple[int, list[str]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("npm_", "NPM_", "PYTEST_", "PY_COLORS", "FORCE_COLOR", "NO_COLOR"))
        and k not in {"CARGO_TERM_COLOR", "GOFLAGS", "CI"}
    }
    env.update(
        COLUMNS=mc.COLUMNS,
        LC_ALL="C.UTF-8",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONHASHSEED="0",
        GOCACHE=str(home / "go-build"),
        GOPATH=str(home / "go"),
        GOFLAGS="",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        CARGO_TARGET_DIR=str(cwd / "target"),
        NODE_PATH=str(NODE_MODULES),
        PATH=f"{NODE_MODULES / '.bin'}:{BIN}:{os.environ['PATH']}",
        CI="true",
    )
    env.update(step.env)
    done = subprocess.run(
        list(step.argv),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=600,
        check=False,
    )
    output = done.stdout.split("\n")
    if output and output[-1] == "":
        output.pop()
    return done.returncode, output


def execute(case: Case, project: Path, home: Path, *, green: bool) -> list[tuple[Step, list[str]]]:
    """Each step with its output; stops at the failing one (the last, on the head)."""
    results: list[tuple[Step, list[str]]] = []
    for n, step in enumerate(case.steps, start=1):
        code, output = run(step, project, home)
        should_fail = not green and n == len(case.steps)
        if (code != 0) != should_fail:
            shown = "\n".join(output[-40:])
            where = "base" if green else "head"
            raise SystemExit(f"{case.name} ({where}): {step.script!r} exited {code}\n{shown}")
        results.append((step, output if code == 0 else [*output, f"\0exit {code}"]))
    return results


def rewrite(lines: list[str], project: Path, home: Path, noise: mc.Noise) -> list[str]:
    replacements = {
        str(project): noise.workspace,
        str(home): "/home/runner",
        str(NODE_MODULES.parent): noise.workspace,
        str(Path.home() / ".m2"): "/home/runner/.m2",
        str(Path.home() / ".cargo"): "/home/runner/.cargo",
        str(Path.home() / ".rustup"): "/home/runner/.rustup",
        str(Path(sys.prefix)): mc.RUNNER_PY.format(mc.PY_VERSION),
        "/usr/lib/go-1.19": "/opt/hostedtoolcache/go/1.19.8/x64",
    }
    return mc.rewrite(lines, replacements)


def actions_log(case: Case, noise: mc.Noise, results, project: Path, home: Path) -> list[str]:
    lines = mc.runner_banner(noise, job=case.job, actions=case.actions)
    lines += mc.checkout(noise)
    lines += case.setup(noise)
    code = 0
    for n, (step, output) in enumerate(results, start=1):
        script = step.script.split("\n")
        lines += [
            f"##[group]Run {script[0]}",
            *script,
            "shell: /usr/bin/bash -e {0}",
            *step.env_block,
            "##[endgroup]",
        ]
        if case.preamble and n == len(results):
            lines += case.preamble(noise)
        if output and output[-1].startswith("\0exit "):
            code = int(output[-1].split()[1])
            output = output[:-1]
        lines += rewrite(output, project, home, noise)
    if code:
        lines.append(f"##[error]Process completed with exit code {code}.")
    lines += mc.post_cleanup(noise)
    return lines


def check_output(case: Case, noise: mc.Noise, results, project: Path, home: Path) -> list[str]:
    """title, summary, text and annotations, as app/handlers/fixes.py joins them."""
    step, output = results[-1]
    failed = bool(output) and output[-1].startswith("\0exit ")
    if failed:
        output = output[:-1]
    output = rewrite(output, project, home, noise)
    build = noise.rng.randint(100, 3000)
    title = f"Build #{build} {'failed' if failed else 'passed'}: {case.job}"
    summary = [
        f"**{case.check_app}** build [#{build}](https://ci.acme.dev/job/{noise.repo}/{build}/) "
        f"{'failed' if failed else 'succeeded'} in {noise.rng.randint(40, 900)}s.",
        "",
        f"Stage `{case.job}` ran `{step.script.splitlines()[0]}`.",
    ]
    # Checks API: output.text is at most 65535 characters; CI servers post the console's tail.
    tail: list[str] = []
    size = 0
    for line in reversed(output):
        size += len(line) + 1
        if size > 60_000:
            break
        tail.append(line)
    text = ["Console output (last lines):", "```", *reversed(tail), "```"]
    lines = [title, *summary, *text]
    notes: dict[str, None] = {}
    for line in map(clean, output if failed else ()):
        for pattern in case.annotate:
            found = re.search(pattern, line)
            if found:
                groups = {
                    "path": case.annotate_path,
                    "line": "1",
                    "message": "test failed",
                    **{k: v for k, v in found.groupdict().items() if v},
                }
                path, number, message = groups["path"], groups["line"], groups["message"]
                notes[f"{path}:{number}: failure: {message}"] = None
                break
    return [*lines, *notes]


def timestamps(lines: Sequence[str], rng: random.Random, start: dt.datetime) -> Iterator[str]:
    return mc.timestamps(lines, rng, start)


def ground_truth(case: Case, log_lines: Sequence[str], output: Sequence[str]) -> list[str]:
    cleaned = [clean(line) for line in output]
    chosen: set[str] = set()
    for pattern in map(re.compile, case.expect):
        hits = [line for line in cleaned if pattern.search(line)]
        if not hits:
            shown = "\n".join(cleaned[-80:])
            raise SystemExit(
                f"{shown}\n{case.name}: nothing in the output matches {pattern.pattern!r}"
            )
        chosen.update(hits)
    in_log = [clean(line) for line in log_lines]
    return list(dict.fromkeys(line for line in in_log if line in chosen))


def build(case: Case, index: int, workdir: Path) -> tuple[int, int]:
    sizes = []
    for green in (False, True):
        rng = random.Random(case.name + (":base" if green else ""))
        noise = mc.Noise(case.repo, rng)
        root = workdir / f"{case.name}{'-base' if green else ''}"
        project = root / noise.repo
        home = root / "home"
        home.mkdir(parents=True)
        mc.write_project(project, {**case.files, **case.fix} if green else case.files)
        if case.eco == "js":
            (project / "node_modules").symlink_to(NODE_MODULES)
        results = execute(case, project, home, green=green)
        wrapper = actions_log if case.wrap == "actions" else check_output
        lines = wrapper(case, noise, results, project, home)
        start = dt.datetime(2024, 5, 1, 12, 0, 0) + dt.timedelta(minutes=7 * index)
        if green:
            start -= dt.timedelta(days=1, minutes=index)
        if case.wrap == "actions":
            text = "\n".join(timestamps(lines, rng, start)) + "\n"
        else:
            text = "\n".join(lines) + "\n"
        folder = OUT / case.eco
        folder.mkdir(parents=True, exist_ok=True)
        if green:
            # Read only by differencing: compressed (gzip, no timestamp, so reproducible).
            data = gzip.compress(text.encode("utf-8"), mtime=0)
            (folder / f"{case.name}.base.log.gz").write_bytes(data)
        else:
            (folder / f"{case.name}.log").write_text(text, encoding="utf-8")
        sizes.append(len(text))
        if not green:
            failing = rewrite(
                [x for x in results[-1][1] if not x.startswith("\0exit ")], project, home, noise
            )
            expected = ground_truth(case, lines, failing)
            if case.wrap == "actions":
                expected.append(lines[-len(mc.post_cleanup(noise)) - 1])
            else:
                expected += [line for line in lines if ": failure: " in line]
            (folder / f"{case.name}.expected").write_text(
                "\n".join(dict.fromkeys(expected)) + "\n", encoding="utf-8"
            )
        shutil.rmtree(root, ignore_errors=True)
    return sizes[0], sizes[1]


# --- the runner's setup steps, per toolchain ----------------------------------------------------


def setup_java(noise: mc.Noise, tool: str = "maven") -> list[str]:
    key = f"setup-java-Linux-x64-{tool}-{noise.hex(64)}"
    return [
        "##[group]Run actions/setup-java@v4",
        "with:",
        "  distribution: temurin",
        "  java-version: 17",
        f"  cache: {tool}",
        "  java-package: jdk",
        "  check-latest: false",
        "  server-id: github",
        "  server-username: GITHUB_ACTOR",
        "  server-password: GITHUB_TOKEN",
        "  overwrite-settings: true",
        "  job-status: success",
        "  token: ***",
        "##[endgroup]",
        "##[group]Installed distributions",
        "Resolved Java 17.0.11+9 from tool-cache",
        "Setting Java 17.0.11+9 as the default",
        "Creating toolchains.xml for JDK version 17 from temurin",
        "Writing to /home/runner/.m2/toolchains.xml",
        "",
        "Java configuration:",
        "  Distribution: temurin",
        "  Version: 17.0.11+9",
        "  Path: /opt/hostedtoolcache/Java_Temurin-Hotspot_jdk/17.0.11-9/x64",
        "",
        "##[endgroup]",
        "Creating settings.xml with server-id: github",
        "Writing to /home/runner/.m2/settings.xml",
        f"Cache hit for: {key}" if tool == "gradle" else f"{tool} cache is not found",
    ]


def _m2_artifacts() -> list[Path]:
    return sorted(p for p in M2.rglob("*") if p.suffix in {".pom", ".jar"} and p.is_file())


M2_ARTIFACTS = _m2_artifacts() if M2.exists() else []


def maven_downloads(noise: mc.Noise, count: int) -> list[str]:
    """`mvn -B dependency:go-offline` on a cold cache: real artifacts and sizes from ~/.m2."""
    lines = [
        "##[group]Run mvn -B dependency:go-offline",
        "mvn -B dependency:go-offline",
        "shell: /usr/bin/bash -e {0}",
        "env:",
        "  JAVA_HOME: /opt/hostedtoolcache/Java_Temurin-Hotspot_jdk/17.0.11-9/x64",
        "  JAVA_HOME_17_X64: /opt/hostedtoolcache/Java_Temurin-Hotspot_jdk/17.0.11-9/x64",
        "##[endgroup]",
        "[INFO] Scanning for projects...",
    ]
    chosen = sorted(noise.rng.sample(M2_ARTIFACTS, min(count, len(M2_ARTIFACTS))))
    central = "https://repo.maven.apache.org/maven2"
    for path in chosen:
        url = f"{central}/{path.relative_to(M2).as_posix()}"
        kb = max(1, path.stat().st_size // 1024)
        speed = noise.rng.randint(200, 9000)
        size = f"{kb / 1024:.1f} MB" if kb >= 1024 else f"{kb} kB"
        lines += [
            f"[INFO] Downloading from central: {url}",
            f"[INFO] Downloaded from central: {url} ({size} at {speed} kB/s)",
        ]
    lines += [
        "[INFO] ------------------------------------------------------------------------",
        "[INFO] BUILD SUCCESS",
        "[INFO] ------------------------------------------------------------------------",
        f"[INFO] Total time:  {noise.rng.randint(20, 90)}.{noise.rng.randint(100, 999)} s",
        "[INFO] Finished at: 2024-05-01T12:01:07Z",
        "[INFO] ------------------------------------------------------------------------",
    ]
    return lines


def java_setup(downloads: int = 0, tool: str = "maven") -> Callable[[mc.Noise], list[str]]:
    def setup(noise: mc.Noise) -> list[str]:
        lines = setup_java(noise, tool)
        return lines + maven_downloads(noise, downloads) if downloads else lines

    return setup


JAVA_ENV = ("env:", "  JAVA_HOME: /opt/hostedtoolcache/Java_Temurin-Hotspot_jdk/17.0.11-9/x64")


# --- Maven ---------------------------------------------------------------------------------------

POM = """\
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>org.example</groupId>
  <artifactId>{artifact}</artifactId>
  <version>1.0-SNAPSHOT</version>
  <packaging>{packaging}</packaging>
  {parent}
  {modules}
  <properties>
    <maven.compiler.release>17</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencies>
    <dependency>
      <groupId>org.junit.jupiter</groupId>
      <artifactId>junit-jupiter</artifactId>
      <version>5.10.2</version>
      <scope>test</scope>
    </dependency>
    {deps}
  </dependencies>
  <build>
    <plugins>
      <plugin><artifactId>maven-resources-plugin</artifactId><version>3.3.1</version></plugin>
      <plugin><artifactId>maven-compiler-plugin</artifactId><version>3.13.0</version></plugin>
      <plugin><artifactId>maven-surefire-plugin</artifactId><version>3.2.5</version></plugin>
      <plugin><artifactId>maven-jar-plugin</artifactId><version>3.4.1</version></plugin>
      <plugin><artifactId>maven-install-plugin</artifactId><version>3.1.2</version></plugin>
    </plugins>
  </build>
</project>
"""


def pom(artifact: str, *, modules: Sequence[str] = (), deps: Sequence[str] = ()) -> str:
    return POM.format(
        artifact=artifact,
        packaging="pom" if modules else "jar",
        parent="",
        modules=(
            "<modules>" + "".join(f"<module>{m}</module>" for m in modules) + "</modules>"
            if modules
            else ""
        ),
        deps="".join(
            f"<dependency><groupId>org.example</groupId><artifactId>{d}</artifactId>"
            "<version>1.0-SNAPSHOT</version></dependency>"
            for d in deps
        ),
    )


WIDGET = """\
package org.example;

import java.util.List;
import java.util.Map;

public class Widget {
    private final String name;
    private final List<String> parts;

    public Widget(String name, List<String> parts) {
        this.name = name;
        this.parts = parts;
    }

    public String name() {
        return name;
    }

    public int size() {
        return name.length();
    }

    public List<String> parts() {
        return parts;
    }

    public Map<String, Integer> weights() {
        return Map.of("base", 10, "part", parts.size());
    }
}
"""

INVENTORY_JAVA = """\
package org.example;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public class Inventory {
    private final Map<String, Widget> widgets = new HashMap<>();

    public void add(Widget widget) {
        widgets.put(widget.name(), widget);
    }

    public Widget find(String name) {
        return widgets.get(name);
    }

    public int totalSize() {
        int total = 0;
        for (Widget w : widgets.values()) {
            total += w.size();
        }
        return total;
    }

    public List<String> labels(String prefix) {
        List<String> out = new ArrayList<>();
        for (Widget w : widgets.values()) {
            out.add(prefix + w.name().toUpperCase());
        }
        return out;
    }

    public int partsOf(String name) {
        return find(name).parts().size();
    }
}
"""

WIDGET_TEST = """\
package org.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class WidgetTest {
    @Test
    void sizeIsNameLength() {
        assertEquals(5, new Widget("bolts", List.of()).size());
    }

    @Test
    void partsAreKept() {
        assertEquals(List.of("a", "b"), new Widget("w", List.of("a", "b")).parts());
    }

    @Test
    void weightsHaveBase() {
        assertTrue(new Widget("w", List.of()).weights().containsKey("base"));
    }
}
"""

INVENTORY_TEST = """\
package org.example;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class InventoryTest {
    private Inventory stocked() {
        Inventory inventory = new Inventory();
        inventory.add(new Widget("nut", List.of("thread")));
        inventory.add(new Widget("bolt", List.of("head", "thread")));
        return inventory;
    }

    @Test
    void totalSizeSumsNames() {
        assertEquals(7, stocked().totalSize());
    }

    @Test
    void partsOfBolt() {
        assertEquals(2, stocked().partsOf("bolt"));
    }

    @Test
    void partsOfNut() {
        assertEquals(1, stocked().partsOf("nut"));
    }

    @Test
    void labelsArePrefixed() {
        assertEquals(List.of("W-BOLT", "W-NUT"), stocked().labels("W-").stream().sorted().toList());
    }
}
"""


def java(path: str) -> str:
    return f"src/main/java/org/example/{path}"


def jtest(path: str) -> str:
    return f"src/test/java/org/example/{path}"


WIDGETS = {
    "pom.xml": pom("widgets"),
    java("Widget.java"): WIDGET,
    java("Inventory.java"): INVENTORY_JAVA,
    jtest("WidgetTest.java"): WIDGET_TEST,
    jtest("InventoryTest.java"): INVENTORY_TEST,
}


def logging_tests(count: int, tests: int, fail: dict[int, str] | None = None) -> dict[str, str]:
    """`count` passing test classes that log like a service does, some with a failing test."""
    files = {}
    fail = fail or {}
    for n in range(count):
        body = [
            "package org.example.service;",
            "",
            "import static org.junit.jupiter.api.Assertions.assertEquals;",
            "",
            "import org.junit.jupiter.api.Test;",
            "",
            f"class Service{n:02d}Test {{",
            "    private static void log(String level, String text) {",
            '        System.out.println("12:00:0" + (text.length() % 10) + "."',
            f'            + (100 + text.length()) + " [main] " + level + " org.example.service.'
            f'Service{n:02d} - " + text);',
            "    }",
            "",
        ]
        for t in range(tests):
            body += [
                "    @Test",
                f"    void handlesOrder{t}() {{",
                f'        log("INFO", "loading fixtures for order {t} from classpath:fixtures/'
                f'orders-{n}.json");',
                f'        log("DEBUG", "opened connection pool jdbc:h2:mem:test{n} (size=4)");',
                f'        log("INFO", "order {t} accepted: 3 lines, total 42.50 EUR");',
                f'        log("DEBUG", "released connection pool jdbc:h2:mem:test{n}");',
                f"        assertEquals({t + n}, {t} + {n});",
                "    }",
            ]
        body.append("}")
        if n in fail:
            body.insert(-1, fail[n])
        files[f"src/test/java/org/example/service/Service{n:02d}Test.java"] = "\n".join(body) + "\n"
    return files


def mvn(goal: str = "test", *, color: bool = True, extra: Sequence[str] = ()) -> Step:
    flags = ["-B", "-o", *(["-Dstyle.color=always"] if color else []), *extra]
    shown = f"mvn -B {' '.join(extra)} {goal}".replace("  ", " ")
    return Step(shown, ["mvn", *flags, goal], env_block=JAVA_ENV)


MAVEN_ANNOTATE = (
    r"^\[ERROR\] /\S+/(?P<path>src/\S+\.java):\[(?P<line>\d+),\d+\] (?P<message>.+)$",
    r"^\[ERROR\]\s+(?P<path>\w+Test)\.\w+:(?P<line>\d+) (?P<message>.+)$",
)


def maven_cases() -> list[Case]:
    setup = java_setup()
    cold = java_setup(downloads=250)
    compile_expect = [
        r"^\[ERROR\] COMPILATION ERROR",
        r"^\[ERROR\] /\S+\.java:\[\d+,\d+\] ",
        r"^\s+(symbol|location|required|found|reason):",
        r"^\[ERROR\] Failed to execute goal ",
        r"^\[(INFO|ERROR)\] \d+ errors?",
    ]
    surefire_expect = [
        r"^\[ERROR\] Tests run: .*<<< (FAILURE|ERROR)!",
        r"^\[ERROR\] org\.example\.\S+ -- Time elapsed: .* <<< (FAILURE|ERROR)!",
        r"^(org\.opentest4j|java\.lang)\.\w+(Error|Exception)",
        r"^\s+at org\.example\.",
        r"^\[ERROR\] (Failures|Errors): $",
        r"^\[ERROR\]\s+\w+Test\.\w+",
        r"^\[ERROR\] Tests run: \d+, Failures: \d+, Errors: \d+, Skipped: \d+$",
        r"^\[ERROR\] Failed to execute goal ",
    ]
    cases = [
        Case(
            name="mvn_compile_symbol",
            eco="maven",
            repo="widgets",
            files={
                **WIDGETS,
                java("Inventory.java"): INVENTORY_JAVA.replace(
                    "total += w.size();", "total += w.lenght();"
                ).replace("return find(name).parts().size();", "return find(name).parts.size;"),
            },
            fix={java("Inventory.java"): INVENTORY_JAVA},
            steps=[mvn()],
            expect=compile_expect,
            setup=setup,
        ),
        Case(
            name="mvn_compile_types",
            eco="maven",
            repo="widgets",
            files={
                **WIDGETS,
                java("Widget.java"): WIDGET.replace(
                    'return Map.of("base", 10, "part", parts.size());',
                    'return Map.of("base", "10", "part", parts.size());',
                ).replace("return name.length();", "return name.length;"),
                java("Inventory.java"): INVENTORY_JAVA.replace(
                    "List<String> out = new ArrayList<>();",
                    "List<Integer> out = new ArrayList<>();",
                ),
            },
            fix={java("Widget.java"): WIDGET, java("Inventory.java"): INVENTORY_JAVA},
            steps=[mvn("verify")],
            expect=compile_expect,
            setup=cold,
            job="build (17)",
        ),
        Case(
            name="mvn_surefire_assert",
            eco="maven",
            repo="widgets",
            files={
                **WIDGETS,
                java("Widget.java"): WIDGET.replace(
                    "return name.length();", "return name.trim().length() - 1;"
                ),
            },
            fix={java("Widget.java"): WIDGET},
            steps=[mvn()],
            expect=[*surefire_expect, r"^\s+at org\.junit\.jupiter\.api\.Assertions\."],
            setup=setup,
        ),
        Case(
            name="mvn_surefire_npe",
            eco="maven",
            repo="widgets",
            files={
                **WIDGETS,
                jtest("InventoryTest.java"): INVENTORY_TEST.replace(
                    'assertEquals(1, stocked().partsOf("nut"))',
                    'assertEquals(0, stocked().partsOf("washer"))',
                ),
            },
            fix={jtest("InventoryTest.java"): INVENTORY_TEST},
            steps=[mvn(color=False)],
            expect=surefire_expect,
            setup=cold,
            job="test",
        ),
        Case(
            name="mvn_surefire_long",
            eco="maven",
            repo="orders",
            files={
                **WIDGETS,
                **logging_tests(
                    60,
                    6,
                    {
                        17: "    @Test\n    void refundRoundsDown() {\n"
                        '        log("INFO", "refund requested for order 9");\n'
                        '        assertEquals(new java.math.BigDecimal("4.25"), '
                        'new java.math.BigDecimal("8.50").divide(new java.math.BigDecimal("2"),'
                        " java.math.RoundingMode.UP).setScale(1, java.math.RoundingMode.UP), "
                        '"refund of half an order");\n    }',
                        31: "    @Test\n    void parsesQuantity() {\n"
                        '        log("INFO", "parsing quantity field");\n'
                        '        assertEquals(3, Integer.parseInt("3 pcs"));\n    }',
                    },
                ),
            },
            fix={
                jtest(f"service/Service{n}Test.java"): logging_tests(60, 6)[
                    jtest(f"service/Service{n}Test.java")
                ]
                for n in (17, 31)
            },
            steps=[mvn(color=True)],
            expect=[
                *surefire_expect[:3],
                r"^java\.lang\.NumberFormatException",
                r"^\s+at org\.example\.",
                r"^\[ERROR\] (Failures|Errors): $",
                r"^\[ERROR\]\s+Service\d+Test\.\w+",
                surefire_expect[6],
                surefire_expect[7],
            ],
            setup=cold,
            job="test (ubuntu-latest, 17)",
        ),
        Case(
            name="mvn_check_surefire",
            eco="maven",
            repo="widgets",
            files={
                **WIDGETS,
                java("Inventory.java"): INVENTORY_JAVA.replace(
                    "out.add(prefix + w.name().toUpperCase());", "out.add(w.name().toUpperCase());"
                ),
            },
            fix={java("Inventory.java"): INVENTORY_JAVA},
            steps=[mvn(color=False)],
            expect=surefire_expect,
            setup=setup,
            wrap="check",
            annotate=MAVEN_ANNOTATE,
        ),
        Case(
            name="mvn_check_compile",
            eco="maven",
            repo="widgets",
            files={
                **WIDGETS,
                java("Widget.java"): WIDGET.replace("import java.util.Map;\n", ""),
            },
            fix={java("Widget.java"): WIDGET},
            steps=[mvn("package", color=False)],
            expect=compile_expect,
            setup=setup,
            wrap="check",
            annotate=MAVEN_ANNOTATE,
            check_app="Buildkite",
        ),
    ]
    core = {
        "pom.xml": POM.format(
            artifact="shop-parent",
            packaging="pom",
            parent="",
            modules="<modules><module>core</module><module>api</module>"
            "<module>web</module></modules>",
            deps="",
        ),
        "core/pom.xml": pom("core"),
        "core/src/main/java/org/example/Widget.java": WIDGET,
        "core/src/main/java/org/example/Inventory.java": INVENTORY_JAVA,
        "core/src/test/java/org/example/WidgetTest.java": WIDGET_TEST,
        "api/pom.xml": pom("api", deps=["core"]),
        "api/src/main/java/org/example/api/Catalog.java": (
            "package org.example.api;\n\nimport org.example.Inventory;\n\n"
            "public class Catalog {\n    private final Inventory inventory = new Inventory();\n\n"
            "    public int size() {\n        return inventory.totalSize();\n    }\n}\n"
        ),
        "web/pom.xml": pom("web", deps=["core", "api"]),
        "web/src/main/java/org/example/web/Page.java": (
            "package org.example.web;\n\nimport org.example.api.Catalog;\n\n"
            "public class Page {\n    public String render(Catalog catalog) {\n"
            '        return "<p>" + catalog.size() + " widgets</p>";\n    }\n}\n'
        ),
        **{
            f"core/src/test/java/org/example/service/Service{n:02d}Test.java": text
            for n, text in enumerate(logging_tests(25, 4).values())
        },
    }
    cases.append(
        Case(
            name="mvn_multimodule",
            eco="maven",
            repo="shop",
            files={
                **core,
                "web/src/main/java/org/example/web/Page.java": core[
                    "web/src/main/java/org/example/web/Page.java"
                ].replace("catalog.size()", "catalog.count()"),
            },
            fix={
                "web/src/main/java/org/example/web/Page.java": core[
                    "web/src/main/java/org/example/web/Page.java"
                ]
            },
            steps=[mvn("install")],
            expect=[*compile_expect, r"^\[INFO\] web \.+ FAILURE", r"^\[ERROR\]\s+mvn <args> -rf"],
            setup=cold,
        )
    )
    return cases


# --- Gradle --------------------------------------------------------------------------------------

GRADLE_BUILD = """\
apply plugin: 'java'
sourceCompatibility = 17
repositories { mavenLocal() }
dependencies { testCompile 'junit:junit:4.13.2' }
test {
    testLogging {
        exceptionFormat '{format}'
        events 'failed'{streams}
    }
}
"""

J4_WIDGET_TEST = """\
package org.example;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.List;
import org.junit.Test;

public class WidgetTest {
    @Test
    public void sizeIsNameLength() {
        assertEquals(5, new Widget("bolts", List.of()).size());
    }

    @Test
    public void partsAreKept() {
        assertEquals(List.of("a", "b"), new Widget("w", List.of("a", "b")).parts());
    }

    @Test
    public void weightsHaveBase() {
        assertTrue(new Widget("w", List.of()).weights().containsKey("base"));
    }
}
"""

J4_INVENTORY_TEST = (
    INVENTORY_TEST.replace(
        "import static org.junit.jupiter.api.Assertions.assertEquals;",
        "import static org.junit.Assert.assertEquals;",
    )
    .replace("import org.junit.jupiter.api.Test;", "import org.junit.Test;")
    .replace("class InventoryTest", "public class InventoryTest")
    .replace("    private Inventory", "    private Inventory")
    .replace("    void ", "    public void ")
)


def gradle_project(fmt: str = "full", streams: bool = False) -> dict[str, str]:
    return {
        "build.gradle": GRADLE_BUILD.replace("{format}", fmt).replace(
            "{streams}", "\n        showStandardStreams = true" if streams else ""
        ),
        "settings.gradle": "rootProject.name = 'widgets'\n",
        java("Widget.java"): WIDGET,
        java("Inventory.java"): INVENTORY_JAVA,
        jtest("WidgetTest.java"): J4_WIDGET_TEST,
        jtest("InventoryTest.java"): J4_INVENTORY_TEST,
    }


def j4_logging_tests(count: int, tests: int, fail: dict[int, str] | None = None) -> dict[str, str]:
    files = {}
    for path, text in logging_tests(count, tests, fail).items():
        text = (
            text.replace(
                "import static org.junit.jupiter.api.Assertions.assertEquals;",
                "import static org.junit.Assert.assertEquals;",
            )
            .replace("import org.junit.jupiter.api.Test;", "import org.junit.Test;")
            .replace("\nclass ", "\npublic class ")
            .replace("    void ", "    public void ")
        )
        files[path] = text
    return files


def gradle(task: str = "build") -> Step:
    return Step(
        f"./gradlew {task} --no-daemon",
        ["gradle", "--no-daemon", "--offline", "--console=plain", task],
        env_block=JAVA_ENV,
    )


def gradle_setup(noise: mc.Noise) -> list[str]:
    return [
        *setup_java(noise, "gradle"),
        "##[group]Run gradle/actions/setup-gradle@v3",
        "with:",
        "  cache-disabled: false",
        "  cache-read-only: true",
        "  gradle-home-cache-cleanup: false",
        "##[endgroup]",
        "Restoring Gradle User Home from cache",
        f"Restored Gradle User Home from cache key: gradle-home-v1|Linux|build[{noise.hex(32)}]",
    ]


def gradle_cases() -> list[Case]:
    test_expect = [
        r"^\S+Test > \w+ FAILED$",
        r"^\s+(java\.lang|org\.junit)\.\w+(Error|Exception)",
        r"^\s+at org\.example\.",
        r"^\d+ tests completed, \d+ failed",
        r"^:test FAILED|^> Task :test FAILED",
        r"^\* What went wrong:",
        r"^Execution failed for task",
        r"^> There were failing tests",
    ]
    compile_expect = [
        r"\.java:\d+: error: ",
        r"^\s+(symbol|location|required|found|reason):",
        r"^\d+ errors?$",
        r"^Execution failed for task ':compileJava'",
        r"^> Compilation failed",
    ]
    base = gradle_project()
    return [
        Case(
            name="gradle_javac",
            eco="gradle",
            repo="widgets",
            files={
                **base,
                java("Inventory.java"): INVENTORY_JAVA.replace(
                    "widgets.put(widget.name(), widget);", "widgets.put(widget, widget.name());"
                ).replace("total += w.size();", "total += w.sizes();"),
            },
            fix={java("Inventory.java"): INVENTORY_JAVA},
            steps=[gradle()],
            expect=compile_expect,
            setup=gradle_setup,
            actions=("actions/checkout@v4", "actions/setup-java@v4", "gradle/actions@v3"),
        ),
        Case(
            name="gradle_junit_full",
            eco="gradle",
            repo="widgets",
            files={
                **base,
                java("Widget.java"): WIDGET.replace(
                    "return name.length();", "return name.length() + 1;"
                ),
            },
            fix={java("Widget.java"): WIDGET},
            steps=[gradle()],
            expect=test_expect,
            setup=gradle_setup,
        ),
        Case(
            name="gradle_junit_short",
            eco="gradle",
            repo="widgets",
            files={
                **gradle_project("short"),
                jtest("InventoryTest.java"): J4_INVENTORY_TEST.replace(
                    'assertEquals(1, stocked().partsOf("nut"))',
                    'assertEquals(0, stocked().partsOf("washer"))',
                ),
            },
            fix={jtest("InventoryTest.java"): J4_INVENTORY_TEST},
            steps=[gradle("test")],
            expect=[
                r"^\S+Test > \w+ FAILED$",
                r"^\s+java\.lang\.\w+ at \w+\.java:\d+$",
                *test_expect[3:],
            ],
            setup=gradle_setup,
        ),
        Case(
            name="gradle_long",
            eco="gradle",
            repo="orders",
            files={
                **gradle_project(streams=True),
                **j4_logging_tests(
                    55,
                    5,
                    {
                        22: "    @Test\n    public void totalsMatch() {\n"
                        '        log("INFO", "summing 3 invoices");\n'
                        '        assertEquals("total for March", 1250L, 1249L);\n    }',
                    },
                ),
            },
            fix={
                "src/test/java/org/example/service/Service22Test.java": j4_logging_tests(55, 5)[
                    "src/test/java/org/example/service/Service22Test.java"
                ]
            },
            steps=[gradle()],
            expect=test_expect,
            setup=gradle_setup,
            job="test",
        ),
        Case(
            name="gradle_check_test",
            eco="gradle",
            repo="widgets",
            files={
                **base,
                java("Inventory.java"): INVENTORY_JAVA.replace(
                    "return find(name).parts().size();", "return find(name).parts().size() - 1;"
                ),
            },
            fix={java("Inventory.java"): INVENTORY_JAVA},
            steps=[gradle("test")],
            expect=test_expect,
            setup=gradle_setup,
            wrap="check",
            annotate=(
                r"^\s+at org\.example\.(?P<path>\w+Test)\.\w+"
                r"\(\w+\.java:(?P<line>\d+)\)(?P<message>)$",
            ),
            check_app="TeamCity",
        ),
        Case(
            name="gradle_check_compile",
            eco="gradle",
            repo="widgets",
            files={
                **base,
                java("Widget.java"): WIDGET.replace(
                    "    public String name() {",
                    "    public String name()  {\n        int unused = parts.count();",
                ),
            },
            fix={java("Widget.java"): WIDGET},
            steps=[gradle()],
            expect=compile_expect,
            setup=gradle_setup,
            wrap="check",
            annotate=(r"/(?P<path>src/\S+\.java):(?P<line>\d+): error: (?P<message>.+)$",),
            check_app="TeamCity",
        ),
    ]


# --- Kotlin --------------------------------------------------------------------------------------

KT_WIDGETS = """\
package org.example

data class Widget(val name: String, val parts: List<String>) {
    val weight: Int
        get() = 10 + parts.size
}

fun totalWeight(widgets: List<Widget>): Int = widgets.sumBy { it.weight }

fun byName(widgets: List<Widget>): Map<String, Widget> = widgets.associateBy { it.name }

fun partsOf(widgets: List<Widget>, name: String): Int =
    byName(widgets)[name]?.parts?.size ?: error("no widget named $name")
"""

KT_MAIN = """\
package org.example

fun main(args: Array<String>) {
    val stock = listOf(
        Widget("bolt", listOf("head", "thread")),
        Widget("nut", listOf("thread"))
    )
    println("total weight: ${totalWeight(stock)}")
    for (name in listOf("bolt", "nut")) {
        println("$name has ${partsOf(stock, name)} parts")
    }
}
"""

KT_PROJECT = {"src/main/kotlin/Widgets.kt": KT_WIDGETS, "src/main/kotlin/Main.kt": KT_MAIN}


def kotlinc(run: bool = False) -> Step:
    script = "kotlinc src/main/kotlin -d build/widgets.jar"
    if run:
        script += "\nkotlin -cp build/widgets.jar org.example.MainKt"
    return Step(
        script,
        # kotlinc writes a jar only into a directory that exists.
        ["bash", "-ec", "mkdir -p build && " + script.replace("\n", " && ")],
        env_block=JAVA_ENV,
    )


def kotlin_setup(noise: mc.Noise) -> list[str]:
    return [
        *setup_java(noise, "gradle"),
        "##[group]Run fwilhe2/setup-kotlin@main",
        "with:",
        "  version: 1.3.31",
        "  install-native: false",
        "##[endgroup]",
        "Downloading https://github.com/JetBrains/kotlin/releases/download/v1.3.31/"
        "kotlin-compiler-1.3.31.zip",
        "Extracting /home/runner/work/_temp/kotlin-compiler-1.3.31.zip",
        "Added /opt/hostedtoolcache/kotlin/1.3.31/x64/kotlinc/bin to the path",
    ]


def kotlin_cases() -> list[Case]:
    compile_expect = [r"^\S+\.kt:\d+:\d+: error: "]
    broken = KT_MAIN.replace(
        'println("total weight: ${totalWeight(stock)}")',
        "val heaviest: Widget = stock.maxBy { it.weight }\n"
        '    println("total weight: ${totalWeight(stock)} kg, heaviest ${heaviest.label}")',
    )
    return [
        Case(
            name="kotlinc_errors",
            eco="kotlin",
            repo="widgets-kt",
            files={**KT_PROJECT, "src/main/kotlin/Main.kt": broken},
            fix={"src/main/kotlin/Main.kt": KT_MAIN},
            steps=[kotlinc()],
            expect=compile_expect,
            setup=kotlin_setup,
            actions=("actions/checkout@v4", "actions/setup-java@v4", "fwilhe2/setup-kotlin@main"),
        ),
        Case(
            name="kotlin_runtime_exception",
            eco="kotlin",
            repo="widgets-kt",
            files={
                **KT_PROJECT,
                "src/main/kotlin/Main.kt": KT_MAIN.replace(
                    'listOf("bolt", "nut")', 'listOf("bolt", "washer")'
                ),
            },
            fix={"src/main/kotlin/Main.kt": KT_MAIN},
            steps=[kotlinc(run=True)],
            expect=[
                r"^Exception in thread \"main\" java\.lang\.\w+",
                r"^\s+at org\.example\.",
            ],
            setup=kotlin_setup,
            job="smoke",
        ),
        Case(
            name="kt_check_compile",
            eco="kotlin",
            repo="widgets-kt",
            files={
                **KT_PROJECT,
                "src/main/kotlin/Widgets.kt": KT_WIDGETS.replace(
                    "fun totalWeight(widgets: List<Widget>): Int",
                    "fun totalWeight(widgets: List<Widget>): String",
                ),
            },
            fix={"src/main/kotlin/Widgets.kt": KT_WIDGETS},
            steps=[kotlinc()],
            expect=compile_expect,
            setup=kotlin_setup,
            wrap="check",
            annotate=(r"^(?P<path>src/\S+\.kt):(?P<line>\d+):\d+: error: (?P<message>.+)$",),
            check_app="Jenkins",
        ),
    ]


# --- Go ------------------------------------------------------------------------------------------

GO_MONEY = """\
package money

import (
	"fmt"
	"strconv"
	"strings"
)

// Cents is an amount of money in cents.
type Cents int64

// Parse reads "12.34" as 1234 cents.
func Parse(text string) (Cents, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(text), ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %q: %w", text, err)
	}
	f := int64(0)
	if frac != "" {
		if len(frac) == 1 {
			frac += "0"
		}
		f, err = strconv.ParseInt(frac[:2], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %q: %w", text, err)
		}
	}
	return Cents(w*100 + f), nil
}

// String formats cents as "12.34".
func (c Cents) String() string {
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// Split divides an amount into n parts that add up to it.
func Split(c Cents, n int) []Cents {
	parts := make([]Cents, n)
	for i := range parts {
		parts[i] = c / Cents(n)
	}
	for i := 0; i < int(c%Cents(n)); i++ {
		parts[i]++
	}
	return parts
}
"""

GO_LEDGER = """\
package ledger

import (
	"fmt"
	"sort"

	"example.com/books/money"
)

// Ledger keeps balances per account.
type Ledger struct {
	balances map[string]money.Cents
}

// New returns an empty ledger.
func New() *Ledger {
	return &Ledger{balances: map[string]money.Cents{}}
}

// Post adds an amount to an account.
func (l *Ledger) Post(account string, amount money.Cents) {
	l.balances[account] += amount
}

// Balance of one account.
func (l *Ledger) Balance(account string) money.Cents {
	return l.balances[account]
}

// Report lists accounts in order with their balances.
func (l *Ledger) Report() []string {
	names := make([]string, 0, len(l.balances))
	for name := range l.balances {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for _, name := range names {
		out = append(out, fmt.Sprintf("%s: %s", name, l.balances[name]))
	}
	return out
}
"""

GO_MONEY_TEST = """\
package money

import "testing"

func TestParse(t *testing.T) {
	cases := map[string]Cents{"1": 100, "1.5": 150, "0.07": 7, "12.34": 1234}
	for text, want := range cases {
		got, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		if got != want {
			t.Errorf("Parse(%q) = %d, want %d", text, got, want)
		}
	}
}

func TestSplit(t *testing.T) {
	parts := Split(100, 3)
	sum := Cents(0)
	for _, p := range parts {
		sum += p
	}
	if sum != 100 {
		t.Errorf("Split(100, 3) sums to %d, want 100", sum)
	}
}

func TestString(t *testing.T) {
	if got := Cents(1234).String(); got != "12.34" {
		t.Errorf("String() = %q, want %q", got, "12.34")
	}
}
"""

GO_LEDGER_TEST = """\
package ledger

import (
	"reflect"
	"testing"
)

func TestReport(t *testing.T) {
	l := New()
	l.Post("cash", 1250)
	l.Post("bank", 99)
	want := []string{"bank: 0.99", "cash: 12.50"}
	if got := l.Report(); !reflect.DeepEqual(got, want) {
		t.Errorf("Report() = %v, want %v", got, want)
	}
}

func TestBalance(t *testing.T) {
	l := New()
	l.Post("cash", 10)
	l.Post("cash", 15)
	if got := l.Balance("cash"); got != 25 {
		t.Errorf("Balance = %d, want 25", got)
	}
}
"""


def go_many_tests(package: str, count: int, fail: dict[int, str] | None = None) -> str:
    """A table of subtests that log as they go, as `go test -v` shows them."""
    fail = fail or {}
    lines = [f"package {package}", "", 'import "testing"', ""]
    for n in range(count):
        lines += [
            f"func TestRule{n:03d}(t *testing.T) {{",
            '\tfor _, region := range []string{"eu", "us", "apac"} {',
            "\t\tt.Run(region, func(t *testing.T) {",
            f'\t\t\tt.Logf("rule {n} for %s: loaded 12 fixtures", region)',
            f"\t\t\t{fail.get(n, '_ = region')}",
            "\t\t})",
            "\t}",
            "}",
            "",
        ]
    return "\n".join(lines)


GO_BOOKS = {
    "go.mod": "module example.com/books\n\ngo 1.19\n",
    "money/money.go": GO_MONEY,
    "money/money_test.go": GO_MONEY_TEST,
    "ledger/ledger.go": GO_LEDGER,
    "ledger/ledger_test.go": GO_LEDGER_TEST,
    "cmd/books/main.go": (
        'package main\n\nimport (\n\t"fmt"\n\t"os"\n\n\t"example.com/books/ledger"\n'
        '\t"example.com/books/money"\n)\n\nfunc main() {\n\tl := ledger.New()\n'
        "\tfor _, arg := range os.Args[1:] {\n\t\tc, err := money.Parse(arg)\n"
        "\t\tif err != nil {\n\t\t\tfmt.Fprintln(os.Stderr, err)\n\t\t\tos.Exit(1)\n\t\t}\n"
        '\t\tl.Post("cash", c)\n\t}\n\tfor _, line := range l.Report() {\n'
        "\t\tfmt.Println(line)\n\t}\n}\n"
    ),
}


def go_setup(noise: mc.Noise) -> list[str]:
    return [
        "##[group]Run actions/setup-go@v5",
        "with:",
        "  go-version: 1.19",
        "  check-latest: false",
        "  token: ***",
        "  cache: true",
        "##[endgroup]",
        "Setup go version spec 1.19",
        "Found in cache @ /opt/hostedtoolcache/go/1.19.8/x64",
        "Added go to the path",
        "Successfully set up Go version 1.19",
        "[command]/opt/hostedtoolcache/go/1.19.8/x64/bin/go env GOMODCACHE",
        "[command]/opt/hostedtoolcache/go/1.19.8/x64/bin/go env GOCACHE",
        "/home/runner/go/pkg/mod",
        "/home/runner/.cache/go-build",
        f"Cache restored from key: setup-go-Linux-ubuntu22-go-1.19.8-{noise.hex(64)}",
        "##[group]go env",
        'GO111MODULE=""',
        'GOARCH="amd64"',
        'GOCACHE="/home/runner/.cache/go-build"',
        'GOMODCACHE="/home/runner/go/pkg/mod"',
        'GOOS="linux"',
        'GOPATH="/home/runner/go"',
        'GOROOT="/opt/hostedtoolcache/go/1.19.8/x64"',
        'GOVERSION="go1.19.8"',
        "##[endgroup]",
    ]


def go(script: str) -> Step:
    return Step(script, ["bash", "-c", script])


def go_cases() -> list[Case]:
    test_expect = [
        r"^\s*--- FAIL: ",
        r"^\s+\w+_test\.go:\d+: ",
        r"^FAIL\s+example\.com/\S+",
        r"^FAIL$",
    ]
    panic_lines = GO_LEDGER.replace(
        "return &Ledger{balances: map[string]money.Cents{}}", "return &Ledger{}"
    )
    many = {
        **GO_BOOKS,
        **{
            f"rules/rules{k}_test.go": go_many_tests("rules", 40).replace(
                "TestRule", f"TestRule{k}"
            )
            for k in range(5)
        },
        "rules/rules.go": "package rules\n",
    }
    return [
        Case(
            name="go_build",
            eco="go",
            repo="books",
            files={
                **GO_BOOKS,
                "ledger/ledger.go": GO_LEDGER.replace(
                    "l.balances[account] += amount", "l.balances[account] += amount.Cents()"
                ).replace(
                    'fmt.Sprintf("%s: %s", name, l.balances[name])', "name + l.balances[name]"
                ),
            },
            fix={"ledger/ledger.go": GO_LEDGER},
            steps=[go("go build ./...")],
            expect=[r"^# example\.com/", r"^\S+\.go:\d+:\d+: "],
            setup=go_setup,
            actions=("actions/checkout@v4", "actions/setup-go@v5"),
        ),
        Case(
            name="go_missing_package",
            eco="go",
            repo="books",
            files={
                **GO_BOOKS,
                "ledger/ledger.go": GO_LEDGER.replace(
                    '"example.com/books/money"',
                    '"example.com/books/money"\n\t"example.com/books/audit"',
                ).replace(
                    "l.balances[account] += amount",
                    "l.balances[account] += amount\n\taudit.Record(account)",
                ),
            },
            fix={"ledger/ledger.go": GO_LEDGER},
            steps=[go("go build ./... && go test ./...")],
            expect=[
                r"no required module provides package|package example\.com/books/audit is not in"
            ],
            setup=go_setup,
        ),
        Case(
            name="go_vet",
            eco="go",
            repo="books",
            files={
                **GO_BOOKS,
                "ledger/ledger.go": GO_LEDGER.replace(
                    'fmt.Sprintf("%s: %s", name, l.balances[name])',
                    'fmt.Sprintf("%s: %d", name, l.balances[name].String())',
                ).replace(
                    "l.balances[account] += amount\n",
                    "l.balances[account] += amount\n\treturn\n\tfmt.Println(account)\n",
                ),
            },
            fix={"ledger/ledger.go": GO_LEDGER},
            steps=[go("go build ./... && go vet ./...")],
            expect=[r"^# example\.com/", r"^\S+\.go:\d+:\d+: "],
            setup=go_setup,
            job="lint",
        ),
        Case(
            name="go_test_fail",
            eco="go",
            repo="books",
            files={
                **GO_BOOKS,
                "money/money.go": GO_MONEY.replace('frac += "0"', 'frac = "0" + frac'),
            },
            fix={"money/money.go": GO_MONEY},
            steps=[go("go test ./...")],
            expect=test_expect,
            setup=go_setup,
            job="test",
        ),
        Case(
            name="go_test_panic",
            eco="go",
            repo="books",
            files={**GO_BOOKS, "ledger/ledger.go": panic_lines},
            fix={"ledger/ledger.go": GO_LEDGER},
            steps=[go("go test -count=1 ./...")],
            expect=[
                r"^\s*--- FAIL: ",
                r"^panic: ",
                r"^goroutine \d+ \[running\]:",
                r"^example\.com/books/",
                r"^\s+/home/runner/work/books/books/\S+\.go:\d+",
                r"^FAIL\s+example\.com/\S+",
                r"^FAIL$",
            ],
            setup=go_setup,
            job="test",
        ),
        Case(
            name="go_test_verbose_long",
            eco="go",
            repo="books",
            files={
                **many,
                "rules/rules3_test.go": go_many_tests(
                    "rules",
                    40,
                    {
                        27: 'if region == "us" { t.Errorf("rule 27 for us: tax = %v, want %v",'
                        " 0.0725, 0.0625) }"
                    },
                ).replace("TestRule", "TestRule3"),
            },
            fix={"rules/rules3_test.go": many["rules/rules3_test.go"]},
            steps=[go("go test -v -count=1 ./...")],
            expect=[
                r"^\s*--- FAIL: ",
                r"^\s+rules3_test\.go:\d+: rule 27 for us: tax",
                r"^FAIL\s+example\.com/\S+",
                r"^FAIL$",
            ],
            setup=go_setup,
            job="test (verbose)",
        ),
        Case(
            name="go_check_test",
            eco="go",
            repo="books",
            files={
                **GO_BOOKS,
                "ledger/ledger.go": GO_LEDGER.replace(
                    "sort.Strings(names)", "sort.Sort(sort.Reverse(sort.StringSlice(names)))"
                ),
                "ledger/ledger_test.go": GO_LEDGER_TEST.replace(
                    'l.Post("bank", 99)',
                    'l.Post("bank", 99)\n\tl.Post("atm", 5)\n\tl.Post("zz", 1)',
                ).replace(
                    '"bank: 0.99", "cash: 12.50"',
                    '"atm: 0.05", "bank: 0.99", "cash: 12.50", "zz: 0.01"',
                ),
            },
            fix={
                "ledger/ledger.go": GO_LEDGER,
                "ledger/ledger_test.go": GO_LEDGER_TEST.replace(
                    'l.Post("bank", 99)',
                    'l.Post("bank", 99)\n\tl.Post("atm", 5)\n\tl.Post("zz", 1)',
                ).replace(
                    '"bank: 0.99", "cash: 12.50"',
                    '"atm: 0.05", "bank: 0.99", "cash: 12.50", "zz: 0.01"',
                ),
            },
            steps=[go("go test -count=1 ./...")],
            expect=test_expect[:3],
            setup=go_setup,
            wrap="check",
            annotate=(r"^\s+(?P<path>\w+_test\.go):(?P<line>\d+): (?P<message>.+)$",),
            check_app="CircleCI",
        ),
    ]


# --- Rust ----------------------------------------------------------------------------------------

RUST_LIB = """\
//! Splitting bills between people.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Expense {
    pub payer: String,
    pub cents: i64,
    pub shared_with: Vec<String>,
}

/// Net balance per person: positive is owed money.
pub fn balances(expenses: &[Expense]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for expense in expenses {
        let n = expense.shared_with.len() as i64;
        *out.entry(expense.payer.clone()).or_insert(0) += expense.cents;
        for person in &expense.shared_with {
            *out.entry(person.clone()).or_insert(0) -= expense.cents / n;
        }
    }
    out
}

/// Names of the people in the expenses, sorted.
pub fn people(expenses: &[Expense]) -> Vec<String> {
    let mut names: Vec<String> = expenses
        .iter()
        .flat_map(|e| std::iter::once(e.payer.clone()).chain(e.shared_with.iter().cloned()))
        .collect();
    names.sort();
    names.dedup();
    names
}

pub fn describe(expense: &Expense) -> String {
    format!("{} paid {} for {}", expense.payer, expense.cents, expense.shared_with.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dinner() -> Expense {
        Expense {
            payer: "ana".into(),
            cents: 9000,
            shared_with: vec!["ana".into(), "bo".into(), "cy".into()],
        }
    }

    #[test]
    fn payer_is_owed_the_others_shares() {
        let b = balances(&[dinner()]);
        assert_eq!(b["ana"], 6000);
        assert_eq!(b["bo"], -3000);
    }

    #[test]
    fn people_are_sorted_once() {
        assert_eq!(people(&[dinner()]), vec!["ana", "bo", "cy"]);
    }

    #[test]
    fn describes_an_expense() {
        assert_eq!(describe(&dinner()), "ana paid 9000 for ana, bo, cy");
    }
}
"""

RUST_MAIN = """\
use splitwise::{balances, Expense};

fn main() {
    let expenses = vec![Expense {
        payer: "ana".to_string(),
        cents: 1200,
        shared_with: vec!["ana".to_string(), "bo".to_string()],
    }];
    for (name, cents) in balances(&expenses) {
        println!("{name}: {cents}");
    }
}
"""

SPLITWISE = {
    "Cargo.toml": '[package]\nname = "splitwise"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": RUST_LIB,
    "src/main.rs": RUST_MAIN,
}


def rust_workspace(crates: int, tests: int, fail: str = "") -> dict[str, str]:
    members = [f"crates/rule{n:02d}" for n in range(crates)]
    files = {
        "Cargo.toml": '[workspace]\nresolver = "2"\nmembers = ['
        + ", ".join(f'"{m}"' for m in members)
        + ', "app"]\n',
        "app/Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
        "[dependencies]\n"
        + "".join(f'rule{n:02d} = {{ path = "../crates/rule{n:02d}" }}\n' for n in range(crates)),
        "app/src/lib.rs": fail or SPLITWISE["src/lib.rs"],
    }
    for n, member in enumerate(members):
        files[f"{member}/Cargo.toml"] = (
            f'[package]\nname = "rule{n:02d}"\nversion = "0.{n}.0"\nedition = "2021"\n'
        )
        body = [
            f"pub fn rate(x: i64) -> i64 {{\n    x * {n + 1} / 100\n}}\n",
            "#[cfg(test)]",
            "mod tests {",
            "    use super::*;",
        ]
        for t in range(tests):
            body += [
                "    #[test]",
                f"    fn rate_of_{t}_is_stable() {{",
                f"        assert_eq!(rate({t * 100}), {t * (n + 1)});",
                "    }",
            ]
        body.append("}")
        files[f"{member}/src/lib.rs"] = "\n".join(body) + "\n"
    return files


def rust_setup(noise: mc.Noise) -> list[str]:
    return [
        "##[group]Run dtolnay/rust-toolchain@stable",
        "with:",
        "  toolchain: stable",
        "  components: clippy",
        "##[endgroup]",
        "##[group]Run : parse toolchain version",
        ": parse toolchain version",
        "shell: /usr/bin/bash --noprofile --norc -e -o pipefail {0}",
        "##[endgroup]",
        "##[group]Run rustup toolchain install stable --component clippy --profile minimal "
        "--no-self-update",
        "info: syncing channel updates for 'stable-x86_64-unknown-linux-gnu'",
        "info: latest update on 2026-04-16, rust version 1.95.0 (59807616e 2026-04-14)",
        "info: downloading component 'cargo'",
        "info: downloading component 'clippy'",
        "info: downloading component 'rust-std'",
        "info: downloading component 'rustc'",
        "info: installing component 'cargo'",
        "info: installing component 'clippy'",
        "info: installing component 'rust-std'",
        "info: installing component 'rustc'",
        "",
        "  stable-x86_64-unknown-linux-gnu installed - rustc 1.95.0 (59807616e 2026-04-14)",
        "",
        "##[endgroup]",
        "##[group]Run Swatinem/rust-cache@v2",
        "with:",
        "  cache-on-failure: false",
        "##[endgroup]",
        f"Cache restored from key: v0-rust-build-Linux-x64-{noise.hex(8)}-{noise.hex(8)}",
    ]


RUST_ENV = ("env:", "  CARGO_TERM_COLOR: always", "  RUST_BACKTRACE: 1")


def cargo(script: str, color: bool = True) -> Step:
    env = {
        "CARGO_TERM_COLOR": "always" if color else "never",
        "RUST_BACKTRACE": "1",
        "CARGO_NET_OFFLINE": "true",
    }
    return Step(script, ["bash", "-c", script], env=env, env_block=RUST_ENV)


def rust_cases() -> list[Case]:
    error_expect = [
        r"^(error|warning: unused)(\[E\d+\])?: ",
        r"^\s*--> \S+\.rs:\d+:\d+",
        r"^\s*= (note|help): ",
        r"^(help|note): ",
        r"^error: could not compile",
    ]
    test_expect = [
        r"^---- \S+ stdout ----$",
        r"panicked at ",
        r"^assertion `left == right` failed",
        r"^\s+left: ",
        r"^\s+right: ",
        r"^failures:$",
        r"^    (\S+::)?tests::\w+$",
        r"^\s+\d+: splitwise::",
        r"^\s+at \./src/",
        r"^test result: FAILED",
        r"^error: test failed",
    ]
    failing_rule = rust_workspace(24, 12)
    failing_rule["crates/rule13/src/lib.rs"] = failing_rule["crates/rule13/src/lib.rs"].replace(
        "x * 14 / 100", "x * 14 / 100 + (x % 700) / 500"
    )
    return [
        Case(
            name="cargo_borrow",
            eco="rust",
            repo="splitwise",
            files={
                **SPLITWISE,
                "src/main.rs": RUST_MAIN.replace(
                    "    for (name, cents) in balances(&expenses) {",
                    "    let moved = expenses;\n    for (name, cents) in balances(&expenses) {",
                ).replace(
                    'println!("{name}: {cents}");', 'println!("{name}: {cents} {}", moved.len());'
                ),
            },
            fix={"src/main.rs": RUST_MAIN},
            steps=[cargo("cargo build")],
            expect=[
                *error_expect[:4],
                r"^error: could not compile",
                r"^\s*\d+\s*\|.*let moved",
                r"^\s+\|\s+-+ value moved here",
            ],
            setup=rust_setup,
            actions=(
                "actions/checkout@v4",
                "dtolnay/rust-toolchain@stable",
                "Swatinem/rust-cache@v2",
            ),
        ),
        Case(
            name="cargo_types",
            eco="rust",
            repo="splitwise",
            files={
                **SPLITWISE,
                "src/lib.rs": RUST_LIB.replace(
                    "let n = expense.shared_with.len() as i64;",
                    "let n = expense.shared_with.len();",
                ).replace(
                    "pub fn describe(expense: &Expense) -> String {",
                    "pub fn describe(expense: &Expense) -> String {\n    let unused = 3;",
                ),
            },
            fix={"src/lib.rs": RUST_LIB},
            steps=[cargo("cargo build")],
            expect=error_expect,
            setup=rust_setup,
        ),
        Case(
            name="cargo_test_assert",
            eco="rust",
            repo="splitwise",
            files={
                **SPLITWISE,
                "src/lib.rs": RUST_LIB.replace("names.dedup();\n", "").replace(
                    '"{} paid {} for {}"', '"{} paid {} for: {}"'
                ),
            },
            fix={"src/lib.rs": RUST_LIB},
            steps=[cargo("cargo test")],
            expect=test_expect,
            setup=rust_setup,
            job="test",
        ),
        Case(
            name="cargo_test_workspace_long",
            eco="rust",
            repo="rates",
            files=failing_rule,
            fix={"crates/rule13/src/lib.rs": rust_workspace(24, 12)["crates/rule13/src/lib.rs"]},
            steps=[cargo("cargo test --workspace --no-fail-fast", color=False)],
            expect=[
                r"^---- \S+ stdout ----$",
                r"panicked at ",
                r"^assertion `left == right` failed",
                r"^\s+left: ",
                r"^\s+right: ",
                r"^failures:$",
                r"^    tests::\w+$",
                r"^test result: FAILED",
                r"^error: \d+ targets? failed",
                r"^    `-p rule13 --lib`",
            ],
            setup=rust_setup,
            job="test",
        ),
        Case(
            name="clippy_deny",
            eco="rust",
            repo="splitwise",
            files={
                **SPLITWISE,
                "src/lib.rs": RUST_LIB.replace(
                    "    names.sort();",
                    "    if names.len() == 0 {\n        return vec![];\n    }\n    names.sort();",
                ).replace("    out\n}", "    return out;\n}"),
            },
            fix={"src/lib.rs": RUST_LIB},
            steps=[cargo("cargo clippy --all-targets -- -D warnings")],
            expect=[
                r"^error: ",
                r"^\s*--> \S+\.rs:\d+:\d+",
                r"^\s*= help: for further information",
                r"^\s*= note: `-D clippy::\S+` implied by `-D warnings`",
                r"^help: ",
            ],
            setup=rust_setup,
            job="clippy",
        ),
        Case(
            name="rust_check_test",
            eco="rust",
            repo="splitwise",
            files={
                **SPLITWISE,
                "src/lib.rs": RUST_LIB.replace(
                    "-= expense.cents / n;", "-= expense.cents / (n + 1);"
                ),
            },
            fix={"src/lib.rs": RUST_LIB},
            steps=[cargo("cargo test", color=False)],
            expect=test_expect,
            setup=rust_setup,
            wrap="check",
            annotate=(r"panicked at (?P<path>src/\S+\.rs):(?P<line>\d+):\d+:(?P<message>.*)$",),
            check_app="Buildkite",
        ),
    ]


# --- JavaScript and TypeScript -------------------------------------------------------------------

CART_JS = """\
function subtotal(items) {
  return items.reduce((sum, item) => sum + item.price * item.qty, 0);
}

function applyCoupon(total, coupon) {
  if (!coupon) return total;
  if (coupon.kind === "percent") return Math.round(total * (100 - coupon.value)) / 100;
  return Math.max(0, total - coupon.value);
}

function summary(items, coupon) {
  const total = applyCoupon(subtotal(items), coupon);
  return { count: items.length, total, currency: "EUR" };
}

module.exports = { subtotal, applyCoupon, summary };
"""

CART_TEST_JS = """\
const { subtotal, applyCoupon, summary } = require("../src/cart");

const items = [
  { sku: "mug", price: 8, qty: 2 },
  { sku: "tea", price: 4.5, qty: 1 },
];

describe("subtotal", () => {
  test("sums price times quantity", () => {
    expect(subtotal(items)).toBe(20.5);
  });
  test("is zero for an empty cart", () => {
    expect(subtotal([])).toBe(0);
  });
});

describe("applyCoupon", () => {
  test("takes a percentage off", () => {
    expect(applyCoupon(200, { kind: "percent", value: 10 })).toBe(180);
  });
  test("never goes below zero", () => {
    expect(applyCoupon(5, { kind: "fixed", value: 10 })).toBe(0);
  });
});

describe("summary", () => {
  test("describes the cart", () => {
    expect(summary(items, null)).toEqual({ count: 2, total: 20.5, currency: "EUR" });
  });
});
"""


def js_many_tests(count: int, fail: dict[int, str] | None = None) -> str:
    fail = fail or {}
    lines = ['const { subtotal } = require("../src/cart");', ""]
    for n in range(count):
        lines += [
            f'describe("pricing rule {n}", () => {{',
            f'  test("applies to carts of {n} items", () => {{',
            f"    {fail.get(n, f'expect(subtotal([{{ price: {n}, qty: 1 }}])).toBe({n});')}",
            "  });",
            f'  test("keeps the currency for rule {n}", () => {{',
            '    expect("EUR").toBe("EUR");',
            "  });",
            "});",
            "",
        ]
    return "\n".join(lines)


SHOP_JS = {
    "package.json": '{\n  "name": "shop-js",\n  "version": "1.0.0",\n  "private": true,\n'
    '  "scripts": { "test": "jest" }\n}\n',
    "src/cart.js": CART_JS,
    "test/cart.test.js": CART_TEST_JS,
}

VITEST_TEST = CART_TEST_JS.replace(
    'const { subtotal, applyCoupon, summary } = require("../src/cart");',
    'import { describe, expect, test } from "vitest";\n'
    'import { subtotal, applyCoupon, summary } from "../src/cart.mjs";',
)

SHOP_VITE = {
    "package.json": '{\n  "name": "shop-vite",\n  "version": "1.0.0",\n  "private": true,\n'
    '  "type": "module",\n  "scripts": { "test": "vitest run" }\n}\n',
    "src/cart.mjs": CART_JS.replace(
        "module.exports = { subtotal, applyCoupon, summary };",
        "export { subtotal, applyCoupon, summary };",
    ),
    "test/cart.test.js": VITEST_TEST,
}

TS_CONFIG = """\
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "commonjs",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
"""

TS_ORDERS = """\
export interface Order {
  id: string;
  lines: { sku: string; qty: number; price: number }[];
  coupon?: { code: string; percent: number };
}

export function total(order: Order): number {
  const sum = order.lines.reduce((acc, line) => acc + line.qty * line.price, 0);
  const off = order.coupon ? order.coupon.percent : 0;
  return Math.round(sum * (100 - off)) / 100;
}

export function label(order: Order): string {
  return `${order.id}: ${order.lines.length} lines`;
}

export function byId(orders: Order[]): Map<string, Order> {
  return new Map(orders.map((o) => [o.id, o]));
}
"""

TS_API = """\
import { Order, total, label } from "./orders";

export function render(orders: Order[]): string[] {
  return orders.map((order) => `${label(order)} = ${total(order).toFixed(2)}`);
}

export function parse(raw: string): Order {
  const data = JSON.parse(raw) as Order;
  return { id: data.id, lines: data.lines ?? [], coupon: data.coupon };
}
"""

TS_PROJECT = {
    "package.json": '{\n  "name": "orders-ts",\n  "version": "1.0.0",\n  "private": true\n}\n',
    "tsconfig.json": TS_CONFIG,
    "src/orders.ts": TS_ORDERS,
    "src/api.ts": TS_API,
}

ESLINT_CONFIG = """\
module.exports = {
  root: true,
  env: { node: true, es2022: true },
  parserOptions: { ecmaVersion: 2022, sourceType: "module" },
  extends: ["eslint:recommended"],
  rules: { eqeqeq: "error", "no-var": "error", "prefer-const": "error", curly: "error" },
};
"""

ESLINT_SRC = """\
function findUser(users, id) {
  for (const user of users) {
    if (user.id === id) {
      return user;
    }
  }
  return null;
}

function greet(user) {
  const name = user ? user.name : "guest";
  return `Hello, ${name}`;
}

module.exports = { findUser, greet };
"""

ESLINT_BROKEN = """\
var cache = {};

function findUser(users, id) {
  for (let user of users) {
    if (user.id == id) return user;
  }
  return nul;
}

function greet(user) {
  let name = user ? user.name : "guest";
  const unused = 42;
  return `Hello, ${name}`;
}

module.exports = { findUser, greet };
"""


def npm(script: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Step:
    return Step(script, list(argv), env=env or {})


def js_setup(noise: mc.Noise) -> list[str]:
    return mc.setup_node(noise, "20.20.2", "10.8.2")


JS_ACTIONS = ("actions/checkout@v4", "actions/setup-node@v4")


def js_cases() -> list[Case]:
    jest_expect = [
        r"^\s*FAIL\s+test/",
        r"^\s+● .+ \u203a ",
        r"^\s+expect\(received\)\.",
        r"^\s+[-+] ",
        r"^\s+> \d+ \|",
        r"^\s+at Object\.\S* \(test/",
        r"^Tests:\s+\d+ failed",
    ]
    jest_long_fail = {
        57: "expect(subtotal([{ price: 0.1, qty: 3 }])).toBe(0.3);",
        143: 'expect(subtotal([{ price: "5", qty: 2 }])).toBe(10);',
    }
    return [
        Case(
            name="jest_assert",
            eco="js",
            repo="shop-js",
            files={
                **SHOP_JS,
                "src/cart.js": CART_JS.replace('currency: "EUR"', 'currency: "eur"').replace(
                    "Math.round(total * (100 - coupon.value)) / 100",
                    "Math.round(total * (100 - coupon.value) / 100)",
                ),
            },
            fix={"src/cart.js": CART_JS},
            steps=[npm("npm test", ["jest", "--ci", "--color"], {"FORCE_COLOR": "1"})],
            expect=jest_expect,
            setup=js_setup,
            actions=JS_ACTIONS,
            job="test",
        ),
        Case(
            name="jest_typeerror",
            eco="js",
            repo="shop-js",
            files={
                **SHOP_JS,
                "src/cart.js": CART_JS.replace(
                    "const total = applyCoupon(subtotal(items), coupon);",
                    "const total = applyCoupon(subtotal(items), coupon.code ? coupon : null);",
                ),
            },
            fix={"src/cart.js": CART_JS},
            steps=[npm("npm test -- --ci", ["jest", "--ci"])],
            expect=[
                r"^\s*FAIL\s+test/",
                r"^\s+● .+ \u203a ",
                r"^\s+TypeError: ",
                r"^\s+> \d+ \|",
                r"^\s+at \w+ \(src/cart\.js",
                r"^\s+at Object\.\S* \(test/",
                r"^Tests:\s+\d+ failed",
            ],
            setup=js_setup,
            actions=JS_ACTIONS,
            job="test",
        ),
        Case(
            name="jest_verbose_long",
            eco="js",
            repo="shop-js",
            files={
                **SHOP_JS,
                **{f"test/rules{k}.test.js": js_many_tests(60) for k in range(9)},
                "test/rules2.test.js": js_many_tests(200, jest_long_fail),
            },
            fix={"test/rules2.test.js": js_many_tests(60)},
            steps=[npm("npm test -- --ci --verbose", ["jest", "--ci", "--verbose"])],
            expect=[
                r"^\s*FAIL\s+test/",
                r"^\s+● .+ \u203a ",
                r"^\s+expect\(received\)\.",
                r"^\s+(Expected|Received)",
                r"^\s+> \d+ \|",
                r"^\s+at Object\.\S* \(test/",
                r"^\s+✕ ",
                r"^Tests:\s+\d+ failed",
            ],
            setup=js_setup,
            actions=JS_ACTIONS,
            job="test (20.x)",
        ),
        Case(
            name="vitest_assert",
            eco="js",
            repo="shop-vite",
            files={
                **SHOP_VITE,
                "src/cart.mjs": SHOP_VITE["src/cart.mjs"]
                .replace("Math.max(0, total - coupon.value)", "total - coupon.value")
                .replace("item.price * item.qty", "item.price"),
            },
            fix={"src/cart.mjs": SHOP_VITE["src/cart.mjs"]},
            steps=[npm("npm test", ["vitest", "run"], {"FORCE_COLOR": "1"})],
            expect=[
                r"^\s*(FAIL|\u00d7)\s+test/cart\.test\.js > ",
                r"^AssertionError: ",
                r"^\s*[-+] (Expected|Received)",
                r"^\s*\u276f test/cart\.test\.js:\d+:\d+",
                r"^\s+\d+\|.*expect\(",
                r"^\s+Tests\s+\d+ failed",
                r"^\s*Test Files\s+\d+ failed",
            ],
            setup=js_setup,
            actions=JS_ACTIONS,
            job="test",
        ),
        Case(
            name="tsc_plain",
            eco="js",
            repo="orders-ts",
            files={
                **TS_PROJECT,
                "src/api.ts": TS_API.replace(
                    "total(order).toFixed(2)", "total(order.lines).toFixed(2)"
                ).replace("coupon: data.coupon", "coupon: data.coupon, note: data.note"),
            },
            fix={"src/api.ts": TS_API},
            steps=[npm("npx tsc --noEmit", ["tsc", "--noEmit", "--pretty", "false"])],
            expect=[r"^src/\S+\.ts\(\d+,\d+\): error TS\d+: ", r"^\s{2}\S.*"],
            setup=js_setup,
            actions=JS_ACTIONS,
            job="typecheck",
        ),
        Case(
            name="tsc_pretty",
            eco="js",
            repo="orders-ts",
            files={
                **TS_PROJECT,
                "src/orders.ts": TS_ORDERS.replace(
                    "const off = order.coupon ? order.coupon.percent : 0;",
                    "const off = order.coupon.percent;",
                ).replace(
                    "return new Map(orders.map((o) => [o.id, o]));",
                    "return new Map(orders.map((o) => [o.id, o.lines]));",
                ),
            },
            fix={"src/orders.ts": TS_ORDERS},
            steps=[npm("npx tsc --noEmit --pretty", ["tsc", "--noEmit", "--pretty"])],
            expect=[
                r"^src/\S+\.ts:\d+:\d+ - error TS\d+: ",
                r"^\s+Type .* is missing the following",
                r"^\d+\s+(const off|return new Map)",
                r"^Found \d+ errors? in",
            ],
            setup=js_setup,
            actions=JS_ACTIONS,
            job="typecheck",
        ),
        Case(
            name="ts_check_tsc",
            eco="js",
            repo="orders-ts",
            files={
                **TS_PROJECT,
                "src/api.ts": TS_API.replace("lines: data.lines ?? []", "lines: data.lines.length"),
            },
            fix={"src/api.ts": TS_API},
            steps=[npm("npx tsc --noEmit", ["tsc", "--noEmit", "--pretty", "false"])],
            expect=[r"^src/\S+\.ts\(\d+,\d+\): error TS\d+: "],
            setup=js_setup,
            wrap="check",
            annotate=(r"^(?P<path>src/\S+\.ts)\((?P<line>\d+),\d+\): (?P<message>error TS.+)$",),
            check_app="Vercel",
        ),
        Case(
            name="eslint_stylish",
            eco="js",
            repo="users-js",
            files={
                "package.json": '{"name": "users-js", "version": "1.0.0", "private": true}\n',
                ".eslintrc.cjs": ESLINT_CONFIG,
                "src/users.js": ESLINT_BROKEN,
                "src/greet.js": ESLINT_SRC,
            },
            fix={"src/users.js": ESLINT_SRC},
            steps=[npm("npx eslint .", ["eslint", "--color", "."])],
            expect=[r"^/\S+/src/users\.js$", r"^\s+\d+:\d+\s+error\s+", r"^✖ \d+ problems?"],
            setup=js_setup,
            actions=JS_ACTIONS,
            job="lint",
        ),
        Case(
            name="js_check_eslint",
            eco="js",
            repo="users-js",
            files={
                "package.json": '{"name": "users-js", "version": "1.0.0", "private": true}\n',
                ".eslintrc.cjs": ESLINT_CONFIG,
                "src/users.js": ESLINT_BROKEN,
            },
            fix={"src/users.js": ESLINT_SRC},
            steps=[npm("npx eslint --format unix .", ["eslint", "--format", "unix", "."])],
            expect=[r"^/\S+/src/users\.js:\d+:\d+: ", r"^\d+ problems?"],
            setup=js_setup,
            wrap="check",
            annotate=(r"^/\S+?/(?P<path>src/\S+\.js):(?P<line>\d+):\d+: (?P<message>.+)$",),
            check_app="Codacy",
        ),
    ]


# --- Python --------------------------------------------------------------------------------------

PY_RATES = """\
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Rate:
    currency: str
    per_euro: Decimal


def convert(amount: Decimal, rate: Rate) -> Decimal:
    return (amount * rate.per_euro).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def parse_rates(text: str) -> dict[str, Rate]:
    rates = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        currency, value = line.split("=")
        rates[currency.strip()] = Rate(currency.strip(), Decimal(value.strip()))
    return rates


def cheapest(rates: dict[str, Rate]) -> str:
    return min(rates.values(), key=lambda r: r.per_euro).currency
"""

PY_RATES_TEST = """\
from decimal import Decimal

import pytest

from fx.rates import Rate, cheapest, convert, parse_rates

RATES = \"\"\"
# daily rates
USD = 1.0712
GBP = 0.8571
JPY = 167.43
\"\"\"


def test_convert_rounds_half_up():
    assert convert(Decimal("10.005"), Rate("USD", Decimal("1"))) == Decimal("10.01")


def test_parse_rates_skips_comments():
    assert set(parse_rates(RATES)) == {"USD", "GBP", "JPY"}


def test_cheapest():
    assert cheapest(parse_rates(RATES)) == "GBP"


@pytest.mark.parametrize("amount", [Decimal(n) / 4 for n in range(40)])
def test_convert_identity(amount):
    assert convert(amount, Rate("EUR", Decimal("1"))) == amount.quantize(Decimal("0.01"))


def test_parse_rejects_garbage():
    with pytest.raises(ValueError):
        parse_rates("USD 1.07")
"""

FX = {
    "pyproject.toml": '[project]\nname = "fx"\nversion = "0.1.0"\n\n'
    '[tool.pytest.ini_options]\npythonpath = ["src"]\n\n[tool.mypy]\nstrict = true\n',
    "src/fx/__init__.py": "",
    "src/fx/rates.py": PY_RATES,
    "tests/test_rates.py": PY_RATES_TEST,
}


def py_many_tests(count: int, fail: dict[int, str] | None = None) -> str:
    fail = fail or {}
    lines = [
        "import logging",
        "",
        "from decimal import Decimal",
        "",
        "from fx.rates import Rate, convert",
        "",
        'log = logging.getLogger("fx.audit")',
        "",
    ]
    for n in range(count):
        lines += [
            f"def test_audit_{n:03d}():",
            f'    log.warning("audit %d: checking %s", {n}, "EUR")',
            "    " + fail.get(n, f"assert convert(Decimal({n}), Rate('EUR', Decimal(1))) == {n}"),
            "",
        ]
    return "\n".join(lines)


def pytest_step(args: str, color: bool = True) -> Step:
    argv = [PY, "-m", "pytest", "-p", "no:cacheprovider", *args.split()]
    if color:
        argv.append("--color=yes")
    return Step(f"pytest {args}", argv, env_block=mc.python_env(mc.PY_VERSION))


def py_setup(noise: mc.Noise) -> list[str]:
    return mc.setup_python(noise, mc.PY_VERSION) + mc.pip_install(
        noise, mc.PY_VERSION, project=noise.repo, extra="dev"
    )


def python_cases() -> list[Case]:
    pytest_expect = [
        r"^_+ test_\w+(\[.*\])? _+$",
        r"^>\s+",
        r"^E\s+\S",
        r"^\S+\.py:\d+: \w+$",
        r"^FAILED ",
        r"^=+ .*\bfailed\b.* =+$",
    ]
    return [
        Case(
            name="pytest_color",
            eco="python",
            repo="fx",
            files={
                **FX,
                "src/fx/rates.py": PY_RATES.replace(
                    'line.startswith("#")', 'line.startswith("//")'
                ).replace("return min(rates.values()", "return max(rates.values()"),
            },
            fix={"src/fx/rates.py": PY_RATES},
            steps=[pytest_step("-ra")],
            expect=pytest_expect,
            setup=py_setup,
            actions=("actions/checkout@v4", "actions/setup-python@v5"),
            job="test (3.11)",
        ),
        Case(
            name="pytest_raises_long",
            eco="python",
            repo="fx",
            files={
                **FX,
                **{f"tests/test_audit{k}.py": py_many_tests(120) for k in range(4)},
                "src/fx/rates.py": PY_RATES.replace(
                    'currency, value = line.split("=")',
                    'currency, _, value = line.partition("=")',
                ),
            },
            fix={"src/fx/rates.py": PY_RATES},
            steps=[pytest_step("-v -ra")],
            expect=[
                r"^_+ test_\w+ _+$",
                r"^>\s+",
                r"^E\s+\S",
                r"^\S+\.py:\d+: \w+$",
                r"^FAILED ",
                r"^=+ .*\bfailed\b.* =+$",
                r"^tests/test_rates\.py::test_parse_rejects_garbage FAILED",
            ],
            setup=py_setup,
            job="test (3.11)",
        ),
        Case(
            name="pytest_logging_long",
            eco="python",
            repo="fx",
            files={
                **FX,
                **{f"tests/test_audit{k}.py": py_many_tests(80) for k in range(3)},
                "tests/test_audit1.py": py_many_tests(
                    80, {68: "assert parse_totals('68') == 68  # noqa: F821"}
                ),
            },
            fix={"tests/test_audit1.py": py_many_tests(80)},
            steps=[pytest_step("-rA -o log_cli=true -o log_cli_level=INFO", color=False)],
            expect=[
                r"^_+ test_audit_068 _+$",
                r"^>\s+assert parse_totals",
                r"^E\s+NameError",
                r"^tests/test_audit1\.py:\d+: NameError$",
                r"^FAILED ",
                r"^=+ .*\bfailed\b.* =+$",
            ],
            setup=py_setup,
            job="test",
        ),
        Case(
            name="mypy_strict",
            eco="python",
            repo="fx",
            files={
                **FX,
                "src/fx/rates.py": PY_RATES.replace(
                    "def convert(amount: Decimal, rate: Rate) -> Decimal:",
                    "def convert(amount, rate: Rate) -> Decimal:",
                )
                .replace("    rates = {}\n", "    rates = {}\n    rates[None] = 1\n")
                .replace(
                    "    return min(rates.values(), key=lambda r: r.per_euro).currency",
                    "    best = min(rates.values(), key=lambda r: r.per_euro)\n"
                    "    return best.per_euro",
                ),
            },
            fix={"src/fx/rates.py": PY_RATES},
            steps=[
                Step(
                    "mypy src",
                    [PY, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", "src"],
                    env={"MYPYPATH": "src"},
                    env_block=mc.python_env(mc.PY_VERSION),
                )
            ],
            expect=[r": error: ", r"^Found \d+ errors"],
            setup=py_setup,
            job="typecheck",
        ),
        Case(
            name="ruff_check",
            eco="python",
            repo="fx",
            files={
                **FX,
                "src/fx/rates.py": "import os\nimport sys\n"
                + PY_RATES.replace(
                    "    return rates\n",
                    "    try:\n        return rates\n    except:\n        pass\n",
                ),
            },
            fix={"src/fx/rates.py": PY_RATES},
            steps=[
                Step(
                    "ruff check --output-format=full .",
                    [
                        str(BIN / "ruff"),
                        "check",
                        "--no-cache",
                        "--output-format=full",
                        "--select",
                        "E,F,W,B",
                        "--ignore",
                        "E501",
                        ".",
                    ],
                    env_block=mc.python_env(mc.PY_VERSION),
                )
            ],
            expect=[r"^[A-Z]+\d+ ", r"^\s*--> ", r"^Found \d+ errors"],
            setup=py_setup,
            job="lint",
        ),
        Case(
            name="pytest_fixture_setup",
            eco="python",
            repo="fx",
            files={
                **FX,
                "tests/conftest.py": "import pytest\n\nfrom fx.rates import parse_rates\n\n\n"
                "@pytest.fixture\ndef rates(tmp_path):\n    path = tmp_path / 'rates.txt'\n"
                "    return parse_rates(path.read_text())\n",
                "tests/test_fixture.py": "def test_has_usd(rates):\n    assert 'USD' in rates\n\n\n"
                "def test_has_gbp(rates):\n    assert 'GBP' in rates\n",
            },
            fix={
                "tests/conftest.py": "import pytest\n\nfrom fx.rates import parse_rates\n\n\n"
                "@pytest.fixture\ndef rates(tmp_path):\n    path = tmp_path / 'rates.txt'\n"
                "    path.write_text('USD = 1.07\\nGBP = 0.85\\n')\n"
                "    return parse_rates(path.read_text())\n"
            },
            steps=[pytest_step("-ra", color=True)],
            expect=[
                r"^_+ ERROR at setup of ",
                r"^>\s+",
                r"^E\s+\S",
                r"^\S+\.py:\d+: \w+$",
                r"^ERROR tests/",
                r"^=+ .*\berrors?\b.* =+$",
            ],
            setup=py_setup,
            job="test (3.11)",
        ),
        Case(
            name="py_check_mypy",
            eco="python",
            repo="fx",
            files={
                **FX,
                "src/fx/rates.py": PY_RATES.replace(
                    "def cheapest(rates: dict[str, Rate]) -> str:",
                    "def cheapest(rates: dict[str, Rate]) -> int:",
                ),
            },
            fix={"src/fx/rates.py": PY_RATES},
            steps=[
                Step(
                    "mypy src",
                    [PY, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", "src"],
                    env={"MYPYPATH": "src"},
                )
            ],
            expect=[r": error: ", r"^Found \d+ errors?"],
            setup=py_setup,
            wrap="check",
            annotate=(r"^(?P<path>src/\S+\.py):(?P<line>\d+): error: (?P<message>.+)$",),
            check_app="Semaphore",
        ),
        Case(
            name="py_check_pytest",
            eco="python",
            repo="fx",
            files={
                **FX,
                "src/fx/rates.py": PY_RATES.replace(
                    '        if not line.strip() or line.startswith("#"):\n            continue\n',
                    "",
                ),
            },
            fix={"src/fx/rates.py": PY_RATES},
            steps=[pytest_step("-q", color=False)],
            expect=[*pytest_expect[:5], r"^\d+ failed"],
            setup=py_setup,
            wrap="check",
            annotate=(r"^(?P<path>(src|tests)/\S+\.py):(?P<line>\d+): (?P<message>\w+)$",),
            check_app="Semaphore",
        ),
    ]


# --- Ruby ----------------------------------------------------------------------------------------

RB_CART = """\
class Cart
  Line = Struct.new(:sku, :price, :qty)

  attr_reader :lines

  def initialize
    @lines = []
  end

  def add(sku, price, qty = 1)
    @lines << Line.new(sku, price, qty)
    self
  end

  def total
    @lines.sum { |line| line.price * line.qty }
  end

  def skus
    @lines.map(&:sku).uniq.sort
  end

  def receipt(customer)
    "#{customer.name}: #{total.round(2)} EUR"
  end
end
"""

RB_CART_SPEC = """\
require_relative "../lib/cart"

Customer = Struct.new(:name)

RSpec.describe Cart do
  subject(:cart) { Cart.new.add("mug", 8.0, 2).add("tea", 4.5) }

  describe "#total" do
    it "sums price times quantity" do
      expect(cart.total).to eq(20.5)
    end
  end

  describe "#skus" do
    it "lists each sku once, sorted" do
      expect(cart.add("mug", 8.0).skus).to eq(%w[mug tea])
    end
  end

  describe "#receipt" do
    it "names the customer" do
      expect(cart.receipt(Customer.new("Ana"))).to eq("Ana: 20.5 EUR")
    end
  end
end
"""


def rb_many_specs(count: int, fail: dict[int, str] | None = None) -> str:
    fail = fail or {}
    lines = ['require_relative "../lib/cart"', "", 'RSpec.describe "pricing rules" do']
    for n in range(count):
        lines += [
            f'  context "rule {n}" do',
            f'    it "prices {n} mugs" do',
            "      " + fail.get(n, f"expect(Cart.new.add('mug', 2.0, {n}).total).to eq({2.0 * n})"),
            "    end",
            "  end",
        ]
    lines.append("end")
    return "\n".join(lines) + "\n"


SHOP_RB = {
    "Gemfile": 'source "https://rubygems.org"\n\ngem "rspec", "~> 3.12"\n',
    "lib/cart.rb": RB_CART,
    "spec/cart_spec.rb": RB_CART_SPEC,
}


def ruby_setup(noise: mc.Noise) -> list[str]:
    gems = [
        "diff-lcs 1.5.1",
        "rspec-support 3.12.1",
        "rspec-core 3.12.2",
        "rspec-expectations 3.12.3",
        "rspec-mocks 3.12.6",
        "rspec 3.12.0",
    ]
    return [
        "##[group]Run ruby/setup-ruby@v1",
        "with:",
        "  ruby-version: 3.1",
        "  bundler-cache: true",
        "##[endgroup]",
        "##[group]Downloading Ruby",
        "https://github.com/ruby/ruby-builder/releases/download/toolcache/ruby-3.1.2-ubuntu-22.04.tar.gz",
        "Took   0.41 seconds",
        "##[endgroup]",
        "##[group]Extracting  Ruby",
        "[command]/usr/bin/tar -xz -C /opt/hostedtoolcache/Ruby -f /home/runner/work/_temp/"
        f"{noise.uuid()}",
        "Took   0.52 seconds",
        "##[endgroup]",
        "##[group]Installing Bundler",
        "Using Bundler 2.3.7 from Gemfile.lock BUNDLED WITH 2.3.7",
        "Took   0.00 seconds",
        "##[endgroup]",
        "##[group]bundle install",
        "[command]/opt/hostedtoolcache/Ruby/3.1.2/x64/bin/bundle config --local path "
        f"{noise.workspace}/vendor/bundle",
        "[command]/opt/hostedtoolcache/Ruby/3.1.2/x64/bin/bundle install --jobs 4",
        "Fetching gem metadata from https://rubygems.org/...",
        "Resolving dependencies...",
        *[f"Fetching {g.split()[0]} {g.split()[1]}" for g in gems],
        *[f"Installing {g.split()[0]} {g.split()[1]}" for g in gems],
        "Bundle complete! 1 Gemfile dependency, 6 gems now installed.",
        f"Bundled gems are installed into `{noise.workspace}/vendor/bundle`",
        "Took   2.17 seconds",
        "##[endgroup]",
    ]


def rspec(args: str = "") -> Step:
    argv = ["rspec", *args.split()]
    return Step(f"bundle exec rspec {args}".strip(), argv)


def ruby_cases() -> list[Case]:
    rspec_expect = [
        r"^\s+\d+\) .+",
        r"^\s+Failure/Error: ",
        r"^\s+expected",
        r"^\s+got: ",
        r"^\s+# \./(lib|spec)/",
        r"^\d+ examples?, \d+ failures?",
        r"^rspec \./spec/",
    ]
    return [
        Case(
            name="rspec_expectation",
            eco="ruby",
            repo="shop-rb",
            files={
                **SHOP_RB,
                "lib/cart.rb": RB_CART.replace(
                    "@lines.map(&:sku).uniq.sort", "@lines.map(&:sku).sort"
                ),
            },
            fix={"lib/cart.rb": RB_CART},
            steps=[rspec("--force-color")],
            expect=[
                r"^\s+\d+\) .+",
                r"^\s+Failure/Error: ",
                r"^\s+expected: ",
                r"^\s+got: ",
                r"^\s+# \./spec/",
                r"^\d+ examples?, \d+ failures?",
                r"^rspec \./spec/",
                r"^\s+\(compared using ==\)",
            ],
            setup=ruby_setup,
            actions=("actions/checkout@v4", "ruby/setup-ruby@v1"),
            job="rspec",
        ),
        Case(
            name="rspec_nomethod",
            eco="ruby",
            repo="shop-rb",
            files={
                **SHOP_RB,
                "lib/cart.rb": RB_CART.replace("customer.name", "customer.full_name"),
            },
            fix={"lib/cart.rb": RB_CART},
            steps=[rspec("--format documentation")],
            expect=[
                r"^\s+\d+\) .+",
                r"^\s+Failure/Error: ",
                r"^\s+NoMethodError:",
                r"^\s+undefined method",
                r"^\s+# \./(lib|spec)/",
                r"^\d+ examples?, \d+ failures?",
                r"^rspec \./spec/",
                r"\(FAILED - \d+\)$",
            ],
            setup=ruby_setup,
            job="rspec",
        ),
        Case(
            name="rspec_long",
            eco="ruby",
            repo="shop-rb",
            files={
                **SHOP_RB,
                "spec/rules_spec.rb": rb_many_specs(
                    400,
                    {
                        233: 'expect(Cart.new.add("mug", 2.0, 233).skus)'
                        '.to contain_exactly("mug", "tea")'
                    },
                ),
            },
            fix={"spec/rules_spec.rb": rb_many_specs(400)},
            steps=[rspec("--format documentation")],
            expect=[
                r"^\s+\d+\) .+",
                r"^\s+Failure/Error: ",
                r"^\s+expected collection contained:",
                r"^\s+actual collection contained:",
                r"^\s+the missing elements were:",
                r"^\s+# \./spec/",
                r"^\d+ examples?, \d+ failures?",
                r"^rspec \./spec/",
                r"\(FAILED - \d+\)$",
            ],
            setup=ruby_setup,
            job="rspec",
        ),
        Case(
            name="ruby_syntax",
            eco="ruby",
            repo="shop-rb",
            files={**SHOP_RB, "lib/cart.rb": RB_CART.replace("  def skus\n", "  def skus(\n")},
            fix={"lib/cart.rb": RB_CART},
            steps=[rspec()],
            expect=[
                r"^An error occurred while loading",
                r"SyntaxError",
                r"^\s+/\S+/lib/cart\.rb:\d+: ",
                r"^# \./spec/",
                r"^Failure/Error: ",
                r"^No examples found|^0 examples, 0 failures, 1 error",
            ],
            setup=ruby_setup,
            job="rspec",
        ),
        Case(
            name="rb_check_rspec",
            eco="ruby",
            repo="shop-rb",
            files={
                **SHOP_RB,
                "lib/cart.rb": RB_CART.replace("line.price * line.qty", "line.price"),
            },
            fix={"lib/cart.rb": RB_CART},
            steps=[rspec()],
            expect=rspec_expect,
            setup=ruby_setup,
            wrap="check",
            annotate=(r"^rspec \./(?P<path>spec/\S+\.rb):(?P<line>\d+) # (?P<message>.+)$",),
            check_app="Travis CI",
        ),
    ]


# --- C and C++ -----------------------------------------------------------------------------------

CMAKE_LISTS = """\
cmake_minimum_required(VERSION 3.16)
project(geometry LANGUAGES C CXX)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
{extra}
add_library(geometry src/shapes.cpp src/stats.c{more})
target_include_directories(geometry PUBLIC include)
add_executable(geometry_tests tests/test_shapes.cpp)
target_link_libraries(geometry_tests PRIVATE geometry)
enable_testing()
add_test(NAME area COMMAND geometry_tests area)
add_test(NAME perimeter COMMAND geometry_tests perimeter)
add_test(NAME stats COMMAND geometry_tests stats)
"""

SHAPES_H = """\
#pragma once
#include <string>
#include <vector>

namespace geo {

struct Point {
    double x;
    double y;
};

class Polygon {
public:
    explicit Polygon(std::vector<Point> points);
    double area() const;
    double perimeter() const;
    std::string name() const;

private:
    std::vector<Point> points_;
};

template <typename Shape>
double total_area(const std::vector<Shape>& shapes) {
    double sum = 0;
    for (const auto& shape : shapes) {
        sum += shape.area();
    }
    return sum;
}

}  // namespace geo

extern "C" double mean(const double* values, int count);
"""

SHAPES_CPP = """\
#include "shapes.h"

#include <cmath>

namespace geo {

Polygon::Polygon(std::vector<Point> points) : points_(std::move(points)) {}

double Polygon::area() const {
    double twice = 0;
    for (size_t i = 0; i < points_.size(); ++i) {
        const Point& a = points_[i];
        const Point& b = points_[(i + 1) % points_.size()];
        twice += a.x * b.y - b.x * a.y;
    }
    return std::fabs(twice) / 2;
}

double Polygon::perimeter() const {
    double sum = 0;
    for (size_t i = 0; i < points_.size(); ++i) {
        const Point& a = points_[i];
        const Point& b = points_[(i + 1) % points_.size()];
        sum += std::hypot(b.x - a.x, b.y - a.y);
    }
    return sum;
}

std::string Polygon::name() const {
    return std::to_string(points_.size()) + "-gon";
}

}  // namespace geo
"""

STATS_C = """\
double mean(const double* values, int count) {
    double sum = 0;
    for (int i = 0; i < count; i++) {
        sum += values[i];
    }
    return count ? sum / count : 0;
}
"""

TEST_SHAPES = """\
#include <cmath>
#include <cstdio>
#include <cstring>

#include "shapes.h"

static int check(bool ok, const char* what, double got, double want) {
    if (!ok) {
        std::fprintf(stderr, "FAIL %s: got %g, want %g\\n", what, got, want);
        return 1;
    }
    std::printf("ok %s\\n", what);
    return 0;
}

int main(int argc, char** argv) {
    geo::Polygon square({{0, 0}, {2, 0}, {2, 2}, {0, 2}});
    const char* which = argc > 1 ? argv[1] : "area";
    if (std::strcmp(which, "area") == 0) {
        return check(square.area() == 4, "square area", square.area(), 4);
    }
    if (std::strcmp(which, "perimeter") == 0) {
        return check(square.perimeter() == 8, "square perimeter", square.perimeter(), 8);
    }
    double values[] = {1, 2, 3, 6};
    return check(std::fabs(mean(values, 4) - 3) < 1e-9, "mean", mean(values, 4), 3);
}
"""

GEOMETRY = {
    "CMakeLists.txt": CMAKE_LISTS.replace("{extra}", "").replace("{more}", ""),
    "include/shapes.h": SHAPES_H,
    "src/shapes.cpp": SHAPES_CPP,
    "src/stats.c": STATS_C,
    "tests/test_shapes.cpp": TEST_SHAPES,
}


def many_c_sources(count: int) -> dict[str, str]:
    return {
        f"src/gen/unit{n:03d}.c": (
            f"double unit{n:03d}(double x) {{\n    return x * {n + 1} + {n};\n}}\n"
        )
        for n in range(count)
    }


def c_setup(noise: mc.Noise) -> list[str]:
    return mc.apt_install(noise)


def cmake_build(verbose: bool = False) -> Step:
    script = "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release\ncmake --build build" + (
        " --verbose" if verbose else ""
    )
    return Step(script, ["bash", "-ec", script + " -- -j1"])


def c_cases() -> list[Case]:
    gen = many_c_sources(220)
    long_lists = CMAKE_LISTS.replace("{extra}", "").replace("{more}", " " + " ".join(sorted(gen)))
    ctest = Step(
        "cmake -S . -B build\ncmake --build build\nctest --test-dir build --output-on-failure",
        [
            "bash",
            "-ec",
            "cmake -S . -B build && cmake --build build -- -j1 && "
            "ctest --test-dir build --output-on-failure",
        ],
    )
    compile_expect = [
        r"^\S+\.(cpp|c|h):\d+:\d+: error: ",
        r"^\S+\.(cpp|c|h):\d+:\d+: note: ",
        r"^\S+\.(cpp|c|h): In ",
        r"^gmake\[\d\]: \*\*\* |^make\[\d\]: \*\*\* ",
        r"^gmake: \*\*\* |^make: \*\*\* ",
    ]
    return [
        Case(
            name="cmake_configure",
            eco="cpp",
            repo="geometry",
            files={
                **GEOMETRY,
                "CMakeLists.txt": CMAKE_LISTS.replace(
                    "{extra}", "find_package(Eigen3 3.4 REQUIRED NO_MODULE)"
                ).replace("{more}", ""),
            },
            fix={"CMakeLists.txt": GEOMETRY["CMakeLists.txt"]},
            steps=[cmake_build()],
            expect=[
                r"^CMake Error at CMakeLists\.txt:\d+ \(find_package\):",
                r"^\s+(Could not find a package configuration file|Add the installation prefix"
                r"|\"Eigen3_DIR\"|to a directory containing)",
                r"^-- Configuring incomplete, errors occurred!",
            ],
            setup=c_setup,
            job="build (ubuntu-22.04, gcc)",
        ),
        Case(
            name="cmake_cpp_template",
            eco="cpp",
            repo="geometry",
            files={
                **GEOMETRY,
                "tests/test_shapes.cpp": TEST_SHAPES.replace(
                    '    const char* which = argc > 1 ? argv[1] : "area";',
                    "    std::vector<geo::Point> points{{0, 0}, {1, 1}};\n"
                    "    double all = geo::total_area(points);\n"
                    "    geo::Polygon broken(points.size());\n"
                    '    const char* which = argc > 1 ? argv[1] : "area";',
                ).replace("return check(square.area() == 4,", "return check(square.area() == all,"),
            },
            fix={"tests/test_shapes.cpp": TEST_SHAPES},
            steps=[cmake_build()],
            expect=[
                *compile_expect,
                r"^\s+\d+ \|\s+sum \+= shape\.area\(\);",
                r"required from here",
                r": In instantiation of",
            ],
            setup=c_setup,
        ),
        Case(
            name="cmake_link",
            eco="cpp",
            repo="geometry",
            files={
                **GEOMETRY,
                "include/shapes.h": SHAPES_H.replace('extern "C" double mean', "double mean"),
            },
            fix={"include/shapes.h": SHAPES_H},
            steps=[cmake_build()],
            expect=[
                r"undefined reference to",
                r"collect2: error: ld returned",
                *compile_expect[3:],
            ],
            setup=c_setup,
        ),
        Case(
            name="ctest_failure",
            eco="cpp",
            repo="geometry",
            files={
                **GEOMETRY,
                "src/stats.c": STATS_C.replace("sum / count", "sum / (count - 1)"),
                "src/shapes.cpp": SHAPES_CPP.replace(
                    "return std::fabs(twice) / 2;", "return twice / 2;"
                ),
            },
            fix={"src/stats.c": STATS_C, "src/shapes.cpp": SHAPES_CPP},
            steps=[ctest],
            expect=[
                r"\*\*\*Failed",
                r"^FAIL ",
                r"^\d+% tests passed, \d+ tests? failed",
                r"^The following tests FAILED:",
                r"^\s+\d+ - \w+ \(Failed\)",
                r"^Errors while running CTest",
            ],
            setup=c_setup,
            job="test",
        ),
        Case(
            name="cmake_long_werror",
            eco="cpp",
            repo="geometry",
            files={
                **GEOMETRY,
                **gen,
                "CMakeLists.txt": long_lists.replace(
                    "project(geometry LANGUAGES C CXX)",
                    "project(geometry LANGUAGES C CXX)\nadd_compile_options(-Wall -Wextra -Werror)",
                ),
                "src/gen/unit187.c": "double unit187(double x) {\n    int scale;\n"
                "    double unused = 2;\n    return x * scale;\n}\n",
            },
            fix={"src/gen/unit187.c": gen["src/gen/unit187.c"]},
            steps=[cmake_build(verbose=True)],
            expect=[
                r"^\S+\.c:\d+:\d+: error: ",
                r"^\S+\.c: In function",
                r"^cc1: all warnings being treated as errors",
                *compile_expect[3:],
            ],
            setup=c_setup,
            job="build (Release)",
        ),
        Case(
            name="cpp_check_ctest",
            eco="cpp",
            repo="geometry",
            files={
                **GEOMETRY,
                "src/shapes.cpp": SHAPES_CPP.replace(
                    "sum += std::hypot(b.x - a.x, b.y - a.y);", "sum += std::fabs(b.x - a.x);"
                ),
            },
            fix={"src/shapes.cpp": SHAPES_CPP},
            steps=[ctest],
            expect=[
                r"\*\*\*Failed",
                r"^FAIL ",
                r"^\d+% tests passed, \d+ tests? failed",
                r"^The following tests FAILED:",
                r"^\s+\d+ - \w+ \(Failed\)",
            ],
            setup=c_setup,
            wrap="check",
            annotate=(r"^(?P<message>FAIL .+)$",),
            check_app="Jenkins",
        ),
    ]


# --- shell scripts under `set -e` ----------------------------------------------------------------

SITE_FILES = {
    "content/index.md": "# Welcome\n\nThe docs.\n",
    "content/install.md": "# Install\n\n    pip install acme\n",
    "expected/sitemap.txt": "index.html\ninstall.html\nusage.html\n",
}


def shell_step(name: str, script: str, shown: str) -> Step:
    """Actions runs `run:` as a file under _temp with `bash -e`; so does this."""
    return Step(
        shown,
        [
            "bash",
            "-c",
            f"mkdir -p _temp && cat > _temp/{name}.sh <<'EOF'\n{script}\nEOF\n"
            f"bash --noprofile --norc -e -o pipefail _temp/{name}.sh",
        ],
    )


def shell_setup(noise: mc.Noise) -> list[str]:
    return []


def build_site_script(pages: int, broken: bool) -> str:
    return "\n".join(
        [
            "set -u",
            "mkdir -p public",
            f"for n in $(seq 1 {pages}); do",
            '  printf "rendering page %04d of %d: content/page-%04d.md'
            ' -> public/page-%04d.html\\n" '
            f'"$n" {pages} "$n" "$n"',
            "  if [ $((n % 25)) -eq 0 ]; then"
            ' echo "  wrote sitemap chunk $((n / 25)) (25 urls)"; fi',
            "done",
            "for f in content/*.md; do",
            '  out="public/$(basename "${f%.md}").html"',
            '  sed "s/^# /<h1>/" "$f" > "$out"',
            '  echo "built $out"',
            "done",
            "ls public | grep -v '^page-' > public/sitemap.txt",
            *(
                [
                    "touch public/usage.html",
                    "ls public | grep -v '^page-' | grep -v sitemap > public/sitemap.txt",
                ]
                if not broken
                else []
            ),
            "diff -u expected/sitemap.txt public/sitemap.txt",
            'echo "sitemap ok"',
        ]
    )


MAKEFILE = """\
PAGES := $(patsubst content/%.md,public/%.html,$(wildcard content/*.md))

docs: $(PAGES)
\t@echo "built $(words $(PAGES)) pages"

public/%.html: content/%.md
\t@mkdir -p public
\t@echo "  PAGE $@"
\t@pandoc --standalone -o $@ $<
"""

CHECK_RELEASE = """\
echo "Checking release notes for $(cat VERSION)"
grep -c "" content/*.md
hugo --minify --destination public
echo "release notes ok"
"""


def shell_cases() -> list[Case]:
    deploy = "\n".join(
        [
            'echo "Deploying $(cat VERSION) to staging"',
            "test -d public",
            'TARGET="${DEPLOY_TARGET:-staging}"',
            'echo "target: $TARGET"',
            'mkdir -p "deploy-$TARGET"',
            'cp -r public/. "deploy-$TARGET/"',
            'echo "deployed $(ls public | wc -l) files"',
        ]
    )
    return [
        Case(
            name="shell_command_not_found",
            eco="shell",
            repo="docs",
            files={**SITE_FILES, "VERSION": "1.4.2\n", "scripts/check-release.sh": CHECK_RELEASE},
            fix={"scripts/check-release.sh": CHECK_RELEASE.replace("hugo --minify", "true")},
            steps=[Step("./scripts/check-release.sh", ["bash", "-e", "scripts/check-release.sh"])],
            expect=[r"command not found"],
            setup=shell_setup,
            job="release-check",
        ),
        Case(
            name="shell_unbound_variable",
            eco="shell",
            repo="docs",
            files={
                **SITE_FILES,
                "VERSION": "1.4.2\n",
                "public/index.html": "<h1>Welcome</h1>\n",
                "scripts/deploy.sh": "set -u\n"
                + deploy.replace("${DEPLOY_TARGET:-staging}", "$DEPLOY_TARGET"),
            },
            fix={"scripts/deploy.sh": "set -u\n" + deploy},
            steps=[Step("./scripts/deploy.sh", ["bash", "-e", "scripts/deploy.sh"])],
            expect=[r"unbound variable"],
            setup=shell_setup,
            job="deploy",
        ),
        Case(
            name="shell_diff_long",
            eco="shell",
            repo="docs",
            files={**SITE_FILES, "build.sh": build_site_script(2300, True)},
            fix={"build.sh": build_site_script(2300, False)},
            steps=[
                Step(
                    "./build.sh",
                    ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "build.sh"],
                )
            ],
            expect=[
                r"^--- expected/sitemap\.txt",
                r"^\+\+\+ public/sitemap\.txt",
                r"^@@ ",
                r"^[-+](?!-|\+)",
            ],
            setup=shell_setup,
            job="build-docs",
        ),
        Case(
            name="shell_pipefail",
            eco="shell",
            repo="docs",
            files={**SITE_FILES},
            fix={"build/manifest.json": '{"pages": 2}\n'},
            steps=[
                shell_step(
                    "e5f6",
                    'echo "Validating manifest"\n'
                    "cat build/manifest.json | python3 -m json.tool > /dev/null\n"
                    'echo "manifest ok"',
                    "cat build/manifest.json | python3 -m json.tool",
                )
            ],
            expect=[r"No such file or directory"],
            setup=shell_setup,
            job="validate",
        ),
        Case(
            name="shell_make_recipe",
            eco="shell",
            repo="docs",
            files={**SITE_FILES, "Makefile": MAKEFILE.replace("@pandoc", "@pandocx")},
            fix={"Makefile": MAKEFILE.replace("@pandoc --standalone -o $@ $<", "@cp $< $@")},
            steps=[Step("make docs", ["make", "docs"])],
            expect=[r"pandocx: (command )?not found|No such file", r"^make: \*\*\* "],
            setup=shell_setup,
            job="docs",
        ),
        Case(
            name="shell_check_deploy",
            eco="shell",
            repo="docs",
            files={**SITE_FILES, "VERSION": "1.4.2\n"},
            fix={"public/index.html": "<h1>Welcome</h1>\n"},
            steps=[
                shell_step(
                    "g7h8",
                    deploy.replace(
                        "test -d public",
                        'test -d public || { echo "error: public/ missing: run ./build.sh first"'
                        " >&2; exit 3; }",
                    ),
                    "./scripts/deploy.sh",
                )
            ],
            expect=[r"^error: public/ missing"],
            setup=shell_setup,
            wrap="check",
            check_app="Netlify",
        ),
    ]


# --- main ----------------------------------------------------------------------------------------


def all_cases() -> list[Case]:
    return [
        *maven_cases(),
        *gradle_cases(),
        *go_cases(),
        *rust_cases(),
        *js_cases(),
        *python_cases(),
        *ruby_cases(),
        *c_cases(),
        *shell_cases(),
        # Last, so that adding them moved no other case's timestamps.
        *kotlin_cases(),
    ]


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="hookwise-ci-corpus-") as tmp:
        for index, case in enumerate(all_cases()):
            if argv and not case.name.startswith(tuple(argv)):
                continue
            for old in (OUT / case.eco).glob(f"{case.name}.*"):
                old.unlink()
            head, base = build(case, index, Path(tmp))
            expected = (OUT / case.eco / f"{case.name}.expected").read_text().count("\n")
            print(f"{case.eco:8} {case.name:28} {head:>9,} B  base {base:>9,} B  {expected:>3} exp")


if __name__ == "__main__":
    main(sys.argv[1:])
