"""Renderings of the engine's plain-data reports (where, explain, stats, the tombstone
map), shared by the commands and the demo. They only read the dicts the engine returns
(schemas in docs/format/trace.md); no figure is computed here except sums and ratios
of those."""

from __future__ import annotations

from typing import Any

from .render import Out, esc, human_bytes, plural, show_hex

# Heat strip shades, lightest to darkest, for tombstone density 0 < d <= 1.
_SHADES_TTY = "░▒▓█"
_SHADES_PLAIN = ".:*#"


# A read-only open (what the command line uses to read) replays the WAL into one
# immutable memtable and never writes: name it for what it is.
REPLAYED = "WAL replayed in memory"


def where_location(r: dict[str, Any], replayed: bool = False) -> str:
    source = r["source"]
    if source == "wal":
        return f"WAL {r['file']} @{r['offset']}"
    if source == "memtable":
        return "memtable"
    if source == "immutable_memtable":
        return REPLAYED if replayed else f"immutable memtable {r.get('index', 0)}"
    return f"L{r['level']} {r['file']}"


def record_text(r: dict[str, Any], hex_mode: bool = False) -> tuple[str, str]:
    """(kind, value) columns of a where record or a walk record."""
    kind = r["kind"]
    if kind == "put":
        return "put", show_hex(r.get("value"), hex_mode)
    if kind == "range_delete" and "range" in r:
        start, end = r["range"]
        return "range_delete", f"[{show_hex(start, hex_mode)}, {show_hex(end, hex_mode)})"
    return kind, "(tombstone)" if kind == "delete" else ""


def status_text(r: dict[str, Any]) -> str:
    status = str(r["status"])
    if status == "answer":
        return "get returns this" if r["kind"] == "put" else "answer: key is deleted"
    if status == "shadowed":
        return f"shadowed by seq {r['shadowed_by']}" if "shadowed_by" in r else "shadowed"
    if status == "log":
        return "WAL copy (read only by recovery)"
    return status


def render_where(
    out: Out,
    key_text: str,
    records: list[dict[str, Any]],
    hex_mode: bool,
    replayed: bool = False,
) -> None:
    """The table of every version of a key, then what a get returns and what is left."""
    if not records:
        out.print(
            f"No version of {esc(key_text)} is present: not in the WAL, the memtables or any "
            "SSTable."
        )
        return
    rows = []
    for i, r in enumerate(records, 1):
        kind, value = record_text(r, hex_mode)
        rows.append(
            [str(i), where_location(r, replayed), str(r["seq"]), kind, value, status_text(r)]
        )
    out.table(
        ["#", "where", "seq", "kind", "value", "status"],
        rows,
        title=f"Versions of {key_text}, newest first",
        right=["#", "seq"],
    )
    answer = next((r for r in records if r["status"] == "answer"), None)
    if answer is None:
        out.print("get returns nothing: no readable version answers it.")
    elif answer["kind"] == "put":
        out.print(
            f"get returns {esc(show_hex(answer['value'], hex_mode))!r} "
            f"(seq {answer['seq']}, {where_location(answer, replayed)})."
        )
    else:
        out.print(
            f"get returns nothing: the {answer['kind'].replace('_', ' ')} tombstone at seq "
            f"{answer['seq']} ({where_location(answer, replayed)}) hides every older version."
        )
    shadowed = [r for r in records if r["status"] == "shadowed"]
    on_disk = [r for r in shadowed if r["source"] == "sstable"]
    if shadowed:
        files = sorted({r["file"] for r in on_disk})
        where = f" on disk in {', '.join(files)}" if files else " in memory"
        out.print(
            f"{plural(len(shadowed), 'older version')} still physically present{where}: "
            f"compaction drops {'it' if len(shadowed) == 1 else 'them'} once no snapshot "
            "needs it."
        )


def walk_step_text(
    step: dict[str, Any], hex_mode: bool = False, replayed: bool = False
) -> tuple[str, str]:
    """(layer, what happened) for one step of an explain_get walk."""
    if step["source"] == "memtable":
        name = step["name"]
        if replayed and name.startswith("immutable"):
            name = REPLAYED
        layer = f"{name} ({plural(step['entries'], 'entry', 'entries')})"
    else:
        layer = f"L{step['level']} {step['file']}"
    parts: list[str] = []
    if step.get("why"):
        parts.append(f"skipped: {step['why']}")
    bloom = step.get("bloom")
    if bloom == "skip":
        parts.append("bloom filter: key certainly absent, table skipped")
    elif bloom == "pass":
        parts.append("bloom filter: maybe present")
    elif bloom == "false_positive":
        parts.append("bloom filter: maybe present (a false positive)")
    elif bloom == "bypassed":
        parts.append("bloom filter not asked: the block was cached, searched at once")
    block = step.get("block")
    if block is not None:
        where = "found in the block cache" if block["cached"] else "read from disk"
        parts.append(f"block {block['index']} @{block['offset']} {where}")
    if step.get("range_tombstone_seq"):
        parts.append(f"covered by a range tombstone at seq {step['range_tombstone_seq']}")
    result = step["result"]
    record = step.get("record")
    if result == "found" and record is not None:
        parts.append(f"FOUND seq {record['seq']} = {show_hex(record.get('value'), hex_mode)!r}")
    elif result == "deleted":
        seq = record["seq"] if record is not None else step.get("range_tombstone_seq")
        parts.append(f"DELETED (tombstone at seq {seq}): the walk stops here")
    elif result == "absent":
        parts.append("no record of the key")
    return layer, "; ".join(parts)


def render_explain_get(
    out: Out, key_text: str, report: dict[str, Any], hex_mode: bool, replayed: bool = False
) -> None:
    rows = []
    for i, step in enumerate(report["steps"], 1):
        layer, what = walk_step_text(step, hex_mode, replayed)
        rows.append([str(i), layer, what])
    out.table(["step", "layer", "what happened"], rows, title=f"get {key_text}", right=["step"])
    if report["found"]:
        verdict = f"value {show_hex(report['value'], hex_mode)!r}"
    elif report["answer"] is not None:
        verdict = f"not found: deleted at seq {report['answer']['seq']}"
    else:
        verdict = "not found: no layer holds the key"
    out.print(
        f"answer: {esc(verdict)}; layers consulted {report['sources_consulted']}, tables "
        f"searched {report['tables_probed']} (read amplification {report['read_amplification']}"
        f"), blocks read from disk {report['blocks_read']}, from cache "
        f"{report['blocks_cached']}"
    )


def render_explain_scan(out: Out, report: dict[str, Any], hex_mode: bool) -> None:
    rows = []
    for src in report["sources"]:
        if src["source"] == "memtable":
            name = src["name"]
        else:
            name = f"L{src['level']} " + ", ".join(src["files"])
        rows.append([name, str(src["entries_read"])])
    bounds = (
        f"[{show_hex(report['start'], hex_mode) or '-inf'}, "
        f"{show_hex(report['end'], hex_mode) or '+inf'})"
    )
    out.table(["source", "entries read"], rows, title=f"scan {bounds}", right=["entries read"])
    out.print(
        f"returned {report['returned']} keys from {report['entries_read']} internal entries: "
        f"stepped over {report['tombstones_skipped']} tombstones, "
        f"{report['range_deleted_skipped']} range-deleted and {report['shadowed_skipped']} "
        f"shadowed versions; blocks read {report['blocks_read']}, cached "
        f"{report['blocks_cached']}; read amplification {report['read_amplification']:.2f} "
        "entries per key returned"
    )
    if report["warning"]:
        out.print(f"[yellow]warning:[/] {esc(report['warning'])}")


def render_levels(out: Out, stats: dict[str, Any], hex_mode: bool = False) -> None:
    levels = stats["levels"]
    deepest = max((lv["level"] for lv in levels if lv["files"]), default=0)
    rows = []
    for lv in levels[: max(deepest, 1) + 1]:
        key_range = ""
        if lv["files"]:
            key_range = (
                f"{show_hex(lv['smallest_key'], hex_mode)} .. "
                f"{show_hex(lv['largest_key'], hex_mode)}"
            )
        target = "" if lv["target_bytes"] is None else human_bytes(lv["target_bytes"])
        rows.append(
            [
                f"L{lv['level']}",
                str(lv["files"]),
                human_bytes(lv["bytes"]),
                str(lv["entries"]),
                str(lv["tombstones"]),
                str(lv["range_tombstones"]),
                key_range,
                target,
            ]
        )
    out.table(
        ["level", "files", "size", "entries", "tombstones", "range dels", "key range", "target"],
        rows,
        title="Levels",
        right=["files", "size", "entries", "tombstones", "range dels", "target"],
    )


def render_stats(out: Out, stats: dict[str, Any], hex_mode: bool = False) -> None:
    render_levels(out, stats, hex_mode)
    mem = stats["memtable"]
    out.print(
        f"memtable: {mem['entries']} entries, {human_bytes(mem['bytes'])}; immutable "
        f"memtables: {stats['immutable_memtables']}; WAL: {human_bytes(stats['wal_bytes'])}; "
        f"last sequence: {stats['last_sequence']}"
    )
    out.print(
        f"read amplification {stats['read_amplification']:.2f} tables per get "
        f"({stats['sstables_probed']} probed / {stats['gets']} gets, {stats['bloom_skips']} "
        f"bloom skips); write amplification {stats['write_amplification']:.2f}; space "
        f"amplification {stats['compaction']['space_amplification']:.2f}"
    )
    for name in ("background_error", "write_error"):
        if stats.get(name):
            out.print(f"[red]{name.replace('_', ' ')}:[/] {esc(str(stats[name]))}")


def render_tombstone_warnings(out: Out, tmap: dict[str, Any], hex_mode: bool = False) -> None:
    for w in tmap["warnings"]:
        out.print(
            f"[yellow]warning:[/] keys {esc(show_hex(w['start'], hex_mode))} .. "
            f"{esc(show_hex(w['last'], hex_mode))} hold {w['tombstones']} tombstones among "
            f"{w['entries']} entries: a scan over them steps over more than "
            f"{tmap['threshold']} dead entries."
        )
        out.print(f"  remedy: {esc(w['remedy'])}")


def render_tombstone_map(out: Out, tmap: dict[str, Any], hex_mode: bool = False) -> None:
    """The heat strip: one row per layer, one cell per key range."""
    shades = _SHADES_TTY if out.tty else _SHADES_PLAIN
    buckets = tmap["buckets"]
    if not buckets:
        out.print("The store holds no entries: no tombstones to map.")
        return
    out.print(
        f"Tombstone density by key range ({len(buckets)} ranges of about equal key count), "
        f"'{shades[0]}' up to 25% of a range's entries are tombstones ... '{shades[-1]}' over "
        "75%; '-' entries, no tombstones; ' ' nothing stored"
    )
    label_width = max(len(layer["layer"]) for layer in tmap["layers"])
    for layer in tmap["layers"]:
        if not layer["entries"] and not layer["range_tombstones"]:
            continue
        strip = "".join(_cell(e, t, shades) for e, t in layer["cells"])
        out.plain(
            f"{layer['layer'].ljust(label_width)} |{strip}| {layer['tombstones']} tombstones / "
            f"{layer['entries']} entries, {layer['range_tombstones']} range tombstones"
        )
    first = show_hex(buckets[0]["start"], hex_mode)
    last = show_hex(buckets[-1]["last"], hex_mode)
    out.plain(f"{' ' * label_width}  keys {first} .. {last}")
    if not tmap["warnings"]:
        out.print(f"No key range makes a scan step over more than {tmap['threshold']} tombstones.")
    render_tombstone_warnings(out, tmap, hex_mode)


def _cell(entries: int, tombstones: int, shades: str) -> str:
    if not entries:
        return " "
    if not tombstones:
        return "-"
    density = tombstones / entries
    return shades[min(len(shades) - 1, int(density * len(shades) - 1e-9))]
