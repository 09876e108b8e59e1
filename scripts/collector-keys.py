#!/usr/bin/env python3
"""Extracts the OpenTelemetry Collector's config key tree, per component, from its Go source.

For each component in COMPONENTS it starts at the component's `Config` struct and walks the
`mapstructure` tags: `,squash` and untagged embedded structs are expanded in place, pointers,
`configoptional.Optional[T]` and type aliases are followed, slices of structs become `key[]`,
maps of structs `key::*`, and every other type is a leaf. Each key is written with its Go type
and the repository, commit and file that declare it.

Usage:
  scripts/collector-keys.py --core GITDIR:COMMIT --contrib DIR:COMMIT > tests/fixtures/collector-keys.tsv

GITDIR is a git directory of open-telemetry/opentelemetry-collector (read with `git show`);
DIR a directory holding the contrib files the components need, at the named commit (the
library's `read_file` gives them file by file); a file whose first line is
`// source-commit: X` was read at X instead (or, as `library-id-N`, is the newest version the
library held, its commit not named), and its keys say so. No Go toolchain is needed: the parser reads
only type declarations.
"""
import argparse
import os
import re
import subprocess
import sys

CORE_MOD = "go.opentelemetry.io/collector/"
CONTRIB_MOD = "github.com/open-telemetry/opentelemetry-collector-contrib/"

# kind, Strata/Collector type name, repository ("core"/"contrib"), package dir, root struct.
COMPONENTS = [
    ("receiver", "otlp", "core", "receiver/otlpreceiver", "Config"),
    ("receiver", "zipkin", "contrib", "receiver/zipkinreceiver", "Config"),
    ("receiver", "hostmetrics", "contrib", "receiver/hostmetricsreceiver", "Config"),
    ("processor", "batch", "core", "processor/batchprocessor", "Config"),
    ("processor", "memory_limiter", "core", "internal/memorylimiter", "Config"),
    ("processor", "attributes", "contrib", "processor/attributesprocessor", "Config"),
    ("processor", "filter", "contrib", "processor/filterprocessor", "Config"),
    ("processor", "resource", "contrib", "processor/resourceprocessor", "Config"),
    ("processor", "resourcedetection", "contrib", "processor/resourcedetectionprocessor", "Config"),
    ("processor", "redaction", "contrib", "processor/redactionprocessor", "Config"),
    ("exporter", "otlp", "core", "exporter/otlpexporter", "Config"),
    ("exporter", "otlp_http", "core", "exporter/otlphttpexporter", "Config"),
    ("exporter", "debug", "core", "exporter/debugexporter", "Config"),
    ("exporter", "file", "contrib", "exporter/fileexporter", "Config"),
    ("exporter", "zipkin", "contrib", "exporter/zipkinexporter", "Config"),
    ("exporter", "prometheus", "contrib", "exporter/prometheusexporter", "Config"),
    ("exporter", "loadbalancing", "contrib", "exporter/loadbalancingexporter", "Config"),
    ("extension", "zpages", "core", "extension/zpagesextension", "Config"),
    ("extension", "pprof", "contrib", "extension/pprofextension", "Config"),
    ("extension", "health_check", "contrib", "extension/healthcheckextension", "Config"),
    ("extension", "basicauth", "contrib", "extension/basicauthextension", "Config"),
    ("extension", "bearertokenauth", "contrib", "extension/bearertokenauthextension", "Config"),
    ("extension", "headers_setter", "contrib", "extension/headerssetterextension", "Config"),
    ("extension", "file_storage", "contrib", "extension/storage/filestorage", "Config"),
]

LEAF_BUILTINS = {
    "string", "bool", "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16",
    "uint32", "uint64", "float32", "float64", "byte", "rune", "any", "interface{}", "error",
}


class Tree:
    """Go files of one repository at one commit: a git directory or a plain directory."""

    def __init__(self, spec, name):
        self.root, self.commit = spec.rsplit(":", 1)
        self.name = name
        self.git = os.path.isfile(os.path.join(self.root, "HEAD"))

    def files(self, pkg):
        if self.git:
            out = subprocess.run(["git", "-C", self.root, "ls-tree", "--name-only",
                                  f"{self.commit}:{pkg}"], capture_output=True, text=True)
            names = out.stdout.split()
        else:
            d = os.path.join(self.root, pkg)
            names = sorted(os.listdir(d)) if os.path.isdir(d) else []
        return [f"{pkg}/{n}" for n in names if n.endswith(".go") and not n.endswith("_test.go")]

    def read(self, path):
        if self.git:
            return subprocess.run(["git", "-C", self.root, "show", f"{self.commit}:{path}"],
                                  capture_output=True, text=True, check=True).stdout
        with open(os.path.join(self.root, path)) as f:
            return f.read()


class Package:
    def __init__(self, tree, pkg):
        self.tree, self.pkg = tree, pkg
        self.types = {}  # name -> (kind, body or target, file, imports)
        self.commits = {}  # file -> the commit its first line names, when it names one
        for path in tree.files(pkg):
            src = tree.read(path)
            m = re.match(r"// source-commit: (\S+)", src)
            if m:
                self.commits[path] = m.group(1)
            imports = parse_imports(src)
            for m in re.finditer(r"^type\s+(\w+)(\[[^\]]*\])?\s+struct\s*\{", src, re.M):
                body = block(src, m.end() - 1)
                self.types[m.group(1)] = ("struct", body, path, imports)
            for m in re.finditer(r"^type\s+(\w+)\s*(=)?\s*([\w.\[\]*]+)\s*$", src, re.M):
                if m.group(1) not in self.types:
                    self.types[m.group(1)] = ("named", m.group(3), path, imports)
            for m in re.finditer(r"^type\s*\(\s*$(.*?)^\)", src, re.M | re.S):
                for line in m.group(1).splitlines():
                    n = re.match(r"\s*(\w+)\s*(=)?\s*([\w.\[\]*]+)\s*$", line)
                    if n and n.group(1) not in self.types:
                        self.types[n.group(1)] = ("named", n.group(3), path, imports)


def parse_imports(src):
    out = {}
    for m in re.finditer(r'^\s*(\w+\s+)?"([^"]+)"\s*$', src, re.M):
        alias = (m.group(1) or "").strip() or m.group(2).rsplit("/", 1)[-1]
        out[alias] = m.group(2)
    return out


def block(src, brace):
    depth = 0
    for i in range(brace, len(src)):
        if src[i] == "{":
            depth += 1
        elif src[i] == "}":
            depth -= 1
            if depth == 0:
                return src[brace + 1:i]
    raise ValueError("unbalanced struct")


class Walker:
    def __init__(self, trees):
        self.trees = trees
        self.cache = {}

    def package(self, repo, pkg):
        key = (repo, pkg)
        if key not in self.cache:
            self.cache[key] = Package(self.trees[repo], pkg)
        return self.cache[key]

    def resolve_import(self, path):
        if path.startswith(CONTRIB_MOD):
            return "contrib", path[len(CONTRIB_MOD):]
        if path.startswith(CORE_MOD):
            return "core", path[len(CORE_MOD):]
        return None

    def walk(self, repo, pkg, name, prefix, out, depth=0, seen=()):
        if depth > 10 or (repo, pkg, name) in seen:
            return
        seen = seen + ((repo, pkg, name),)
        p = self.package(repo, pkg)
        t = p.types.get(name)
        if t is None:
            return
        kind, body, path, imports = t
        if kind == "named":
            self.type_keys(repo, pkg, body, imports, prefix, out, depth, seen, path, declared=None)
            return
        commit = p.commits.get(path, self.trees[repo].commit[:12])
        src_ref = f"{self.trees[repo].name}@{commit}:{path}"
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        lines, buf, level = [], "", 0
        for raw in body.splitlines():
            line = raw.split("//", 1)[0] if "`" not in raw.split("//", 1)[0] or True else raw
            line = re.sub(r"//.*$", "", raw) if raw.strip().startswith("//") else raw
            buf += line + "\n"
            level += line.count("{") - line.count("}")
            if level == 0:
                if buf.strip():
                    lines.append(buf.strip())
                buf = ""
        for line in lines:
            tag = re.search(r'mapstructure:"([^"]*)"', line)
            decl = re.sub(r"`[^`]*`", "", line).strip()
            decl = re.sub(r"\s*//.*$", "", decl)
            if not decl or decl.startswith("_ "):
                continue
            parts = decl.split(None, 1)
            embedded = len(parts) == 1
            field, typ = (None, parts[0]) if embedded else (parts[0], parts[1].strip())
            tagname, opts = "", []
            if tag:
                bits = tag.group(1).split(",")
                tagname, opts = bits[0], bits[1:]
            if tagname == "-":
                continue
            if field and not field[0].isupper():
                continue
            if embedded or "squash" in opts:
                self.type_keys(repo, pkg, typ, imports, prefix, out, depth + 1, seen, path,
                               declared=None)
                continue
            key = tagname or field.lower()
            full = f"{prefix}::{key}" if prefix else key
            self.type_keys(repo, pkg, typ, imports, full, out, depth + 1, seen, path,
                           declared=src_ref)

    def type_keys(self, repo, pkg, typ, imports, key, out, depth, seen, path, declared):
        """Records `key` (when `declared`) and walks into `typ` when it is a struct."""
        typ = typ.strip()
        shape = ""
        optional = False
        while True:
            if typ.startswith("*"):
                typ = typ[1:]
            elif typ.startswith("[]"):
                typ, shape = typ[2:], shape + "[]"
            elif typ.startswith("map["):
                close = typ.index("]")
                typ, shape = typ[close + 1:], shape + "{}"
            else:
                m = re.match(r"(?:\w+\.)?Optional\[(.*)\]$", typ)
                if m:
                    typ, optional = m.group(1), True
                else:
                    break
        target = self.struct_of(repo, pkg, typ, imports)
        if declared is not None:
            out.append((key, shape + typ, declared))
        if target is None:
            return
        trepo, tpkg, tname = target
        sub = key
        if shape.endswith("[]"):
            sub = f"{key}[]"
        elif shape.endswith("{}"):
            sub = f"{key}::*"
        if optional and declared is not None:
            # configoptional.Optional: `enabled: false` turns a struct section off.
            core = self.trees["core"]
            out.append((f"{key}::enabled", "bool",
                        f"{core.name}@{core.commit[:12]}:config/configoptional/optional.go"))
        self.walk(trepo, tpkg, tname, sub, out, depth, seen)

    def struct_of(self, repo, pkg, typ, imports):
        """(repo, pkg, name) of the struct (or named type) `typ`, or None for a leaf."""
        typ = re.sub(r"\[.*\]$", "", typ)
        if typ in LEAF_BUILTINS or typ.startswith("func") or typ.startswith("chan"):
            return None
        if "." in typ:
            alias, name = typ.split(".", 1)
            imp = imports.get(alias)
            where = self.resolve_import(imp) if imp else None
            if where is None:
                return None
            trepo, tpkg = where
        else:
            trepo, tpkg, name = repo, pkg, typ
        p = self.package(trepo, tpkg)
        t = p.types.get(name)
        if t is None:
            return None
        if t[0] == "named":
            inner = t[1]
            if inner in LEAF_BUILTINS:
                return None
            return self.struct_of(trepo, tpkg, inner, t[3])
        return trepo, tpkg, name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--core", required=True)
    ap.add_argument("--contrib", required=True)
    a = ap.parse_args()
    trees = {
        "core": Tree(a.core, "open-telemetry/opentelemetry-collector"),
        "contrib": Tree(a.contrib, "open-telemetry/opentelemetry-collector-contrib"),
    }
    w = Walker(trees)
    print("# The OpenTelemetry Collector's config keys per component, from its Go source.")
    print(f"# core: {trees['core'].name} at {trees['core'].commit}")
    print(f"# contrib: {trees['contrib'].name} at {trees['contrib'].commit}")
    print("# Generated by scripts/collector-keys.py; checked by the key-set test (src/keys.rs).")
    print("# kind\ttype\tkey\tgo type\tdeclared in")
    for kind, name, repo, pkg, root in COMPONENTS:
        out = []
        w.walk(repo, pkg, root, "", out)
        if not out:
            print(f"collector-keys: no keys for {kind} {name} ({repo} {pkg})", file=sys.stderr)
        seen = set()
        for key, typ, src in out:
            if key in seen:
                continue
            seen.add(key)
            print(f"{kind}\t{name}\t{key}\t{typ}\t{src}")


if __name__ == "__main__":
    main()
