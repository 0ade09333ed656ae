"""The contracts lock: the committed record of every publication's contract, and how code may drift from it.

``contracts.lock.json`` maps each publication name to ``{contract, version, fields, branch, sha256}``: ``branch`` is
the policy of the output it hands off (``primary`` or ``aux``, ``required`` or ``optional``), and a change of it is
drift the update records, like an added field. Under the same name
(the same ``.vN``) a field may only be added with a new number; removing, renaming, retyping or renumbering a field,
or flipping ``required`` either way, is breaking and needs a new version. ``sha256`` seals each entry so a hand edit
shows. Only ``manage.py check_contracts --update-lock`` writes the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.contracts.declarations import Branch, Composition, Publication
from pipelines.contracts.problems import Problem
from pipelines.contracts.rules import Producer, bumped, contract_of, producers

Entry = dict[str, Any]
Lock = dict[str, Entry]
UPDATE = "Run 'manage.py check_contracts --update-lock' and commit contracts.lock.json."


class LockUnreadable(ValueError):
    """The lock file is not JSON, or not an object keyed by publication name."""


@dataclass(frozen=True)
class Change:
    breaking: bool
    text: str


@dataclass
class Update:
    """What ``--update-lock`` would write, why it refuses, and a line per recorded change."""

    lock: Lock
    refusals: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- entries -------------------------------------------------------------------------------------------------
def entry_for(publication: Publication, branch: Branch | None = None) -> Entry:
    found = contract_of(publication.model)
    assert found is not None  # current() only asks for publications with a contract
    fields = [
        {"number": f.number, "name": f.name, "type": f.type, "required": f.required}
        for f in sorted(found.fields, key=lambda f: f.number)
    ]
    entry: Entry = {"contract": found.name, "version": found.version, "fields": fields}
    if branch is not None:
        entry["branch"] = policy_of(branch)
    return entry


def policy_of(branch: Branch) -> dict[str, str]:
    """The branch policy a publication hands off under: its step's primary or an aux branch, required or optional."""
    return {"role": branch.role, "need": branch.need}


def checksum(name: str, entry: Entry) -> str:
    """sha256 of the entry's canonical JSON, with its publication name, without its own checksum."""
    body = {"publication": name, **{k: v for k, v in entry.items() if k != "sha256"}}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal(name: str, entry: Entry) -> Entry:
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return {**body, "sha256": checksum(name, body)}


def current(composition: Composition) -> dict[str, tuple[Producer, Entry]]:
    """The entry each publication of the composition would have in the lock (its first producer's)."""
    out: dict[str, tuple[Producer, Entry]] = {}
    for name, producing in producers(composition).items():
        if contract_of(producing[0].publication.model) is not None:
            out[name] = (producing[0], entry_for(producing[0].publication, producing[0].branch))
    return out


# -- reading and writing ---------------------------------------------------------------------------------------
def read(path: Path) -> Lock | None:
    """The lock at ``path``, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LockUnreadable(f"not valid JSON ({exc})") from exc
    if not isinstance(loaded, dict):
        raise LockUnreadable(f"expected a JSON object keyed by publication name, found {type(loaded).__name__}")
    return loaded


def dumps(lock: Lock) -> str:
    """JSON with one line per field, so a contract change reads as a one-line diff in review."""
    blocks = []
    for name in sorted(lock):
        entry = lock[name]
        fields = ",\n".join(f"      {json.dumps(spec)}" for spec in entry["fields"])
        blocks.append(
            f"  {json.dumps(name)}: {{\n"
            f'    "contract": {json.dumps(entry["contract"])},\n'
            f'    "version": {json.dumps(entry["version"])},\n'
            f'    "fields": [\n{fields}\n    ],\n'
            + (f'    "branch": {json.dumps(entry["branch"])},\n' if "branch" in entry else "")
            + f'    "sha256": {json.dumps(entry["sha256"])}\n  }}'
        )
    return "{\n" + ",\n".join(blocks) + "\n}\n"


def write(path: Path, lock: Lock) -> None:
    text = dumps(lock)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


def malformed(entry: object) -> str | None:
    """Why an entry does not have the lock's shape, or None."""
    if not isinstance(entry, dict):
        return "expected an object"
    if not isinstance(entry.get("contract"), str) or not isinstance(entry.get("version"), int):
        return "expected 'contract' (a string) and 'version' (an integer)"
    if not isinstance(entry.get("fields"), list):
        return "expected 'fields' (a list)"
    branch = entry.get("branch")
    if branch is not None and (not isinstance(branch, dict) or any(type(branch.get(k)) is not str for k in _POLICY)):
        return f"expected 'branch' to have {', '.join(_POLICY)} (strings)"
    shape = {"number": int, "name": str, "type": str, "required": bool}
    for index, spec in enumerate(entry["fields"]):
        if not isinstance(spec, dict) or any(type(spec.get(k)) is not t for k, t in shape.items()):
            return f"fields[{index}] must have number (int), name, type (strings) and required (bool)"
    return None


# -- drift ---------------------------------------------------------------------------------------------------------
def diff(locked: Entry, now: Entry) -> list[Change]:
    """Every difference of ``now`` from ``locked``, each breaking or additive, with expected=/actual=."""
    changes: list[Change] = []
    if locked["contract"] != now["contract"]:
        changes.append(Change(True, f"contract renamed (expected={locked['contract']} actual={now['contract']})"))
    if locked["version"] != now["version"]:
        changes.append(Change(True, f"contract version changed (expected={locked['version']} actual={now['version']})"))
    if locked.get("branch") != now.get("branch"):
        text = f"branch policy changed (expected={_policy(locked)} actual={_policy(now)})"
        changes.append(Change(False, text))
    old = {f["name"]: f for f in locked["fields"]}
    new = {f["name"]: f for f in now["fields"]}
    old_numbers = {f["number"]: f for f in locked["fields"]}
    new_numbers = {f["number"]: f for f in now["fields"]}
    for spec in locked["fields"]:
        same = new.get(spec["name"])
        if same is None:
            taker = new_numbers.get(spec["number"])
            if taker is not None and taker["name"] not in old:
                changes.append(
                    Change(
                        True, f"field #{spec['number']} renamed (expected='{spec['name']}' actual='{taker['name']}')"
                    )
                )
                same = {**taker, "name": spec["name"]}
            else:
                changes.append(Change(True, f"field '{spec['name']}' (#{spec['number']} {spec['type']}) removed"))
                continue
        for attribute in ("number", "type", "required"):
            if same[attribute] != spec[attribute]:
                expected, actual = _show(spec[attribute]), _show(same[attribute])
                text = f"field '{spec['name']}' {attribute} changed (expected={expected} actual={actual})"
                changes.append(Change(True, text))
    for spec in now["fields"]:
        if spec["name"] in old:
            continue
        previous = old_numbers.get(spec["number"])
        if previous is None:
            required = "required" if spec["required"] else "optional"
            changes.append(
                Change(False, f"field '{spec['name']}' (#{spec['number']} {spec['type']}, {required}) added")
            )
        elif previous["name"] in new:
            text = f"field '{spec['name']}' reuses number {spec['number']} of field '{previous['name']}'"
            changes.append(Change(True, text))
    return changes


_POLICY = ("role", "need")


def _policy(entry: Entry) -> str:
    branch = entry.get("branch")
    return "/".join(str(branch[k]) for k in _POLICY) if isinstance(branch, dict) else "none"


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_lock(composition: Composition, lock: Lock) -> list[Problem]:
    """Every way the composition's publications differ from the lock, and every entry edited by hand."""
    problems: list[Problem] = []
    usable: set[str] = set()
    for name in sorted(lock):
        problem = _entry_problem(name, lock[name])
        if problem:
            problems.append(problem)
        else:
            usable.add(name)
    now = current(composition)
    for name, (producer, entry) in sorted(now.items()):
        if name not in lock:
            problems.append(_unlocked(name, producer, entry, lock))
        elif name in usable:
            problems.extend(_drift(name, producer, lock[name], entry))
    for name in sorted(set(lock) - set(now)):
        problems.append(
            Problem(
                "pipelines.W034",
                f"contracts lock out of date: it lists publication '{name}', which no pipeline produces any more",
                UPDATE,
                "warning",
            )
        )
    return problems


def _entry_problem(name: str, entry: Any) -> Problem | None:
    why = malformed(entry)
    if why:
        return Problem(
            "pipelines.E031",
            f"contracts lock entry for publication '{name}' is malformed: {why}",
            "Restore contracts.lock.json from version control (git checkout -- contracts.lock.json), then run "
            "'manage.py check_contracts --update-lock'.",
        )
    recorded = entry.get("sha256")
    computed = checksum(name, entry)
    if recorded != computed:
        return Problem(
            "pipelines.E032",
            f"contracts lock entry for publication '{name}' was edited by hand: its sha256 does not match its "
            f"content (expected={computed} actual={recorded or 'none'})",
            "Only 'manage.py check_contracts --update-lock' writes the lock. Restore the file from version control "
            "(git checkout -- contracts.lock.json), then run the update.",
        )
    return None


def _unlocked(name: str, producer: Producer, entry: Entry, lock: Lock) -> Problem:
    stem = name.rsplit(".v", 1)[0]
    earlier = sorted(n for n in lock if n != name and n.rsplit(".v", 1)[0] == stem)
    supersedes = f" (a new version of '{earlier[-1]}')" if earlier else ""
    return Problem(
        "pipelines.W034",
        f"contracts lock out of date: publication '{name}' (contract {entry['contract']} v{entry['version']}, "
        f"producer {producer.label}) is not in the lock{supersedes}",
        UPDATE,
        "warning",
    )


def _drift(name: str, producer: Producer, locked: Entry, entry: Entry) -> list[Problem]:
    changes = diff(locked, entry)
    if not changes:
        return []
    lines = "".join(f"\n  {'-' if c.breaking else '+'} {c.text}" for c in changes)
    version = locked["version"]
    if any(c.breaking for c in changes):
        return [
            Problem(
                "pipelines.E033",
                f"breaking change to publication '{name}' (contract {entry['contract']}, producer {producer.label}) "
                f"under the same version v{version}:{lines}",
                f"Revert the change, or publish it as a new version: set the contract's version to {version + 1}, "
                f"rename the publication to '{bumped(name, version + 1)}' (and its subscriptions), then run "
                "'manage.py check_contracts --update-lock'.",
            )
        ]
    return [
        Problem(
            "pipelines.W034",
            f"contracts lock out of date for publication '{name}' (producer {producer.label}):{lines}",
            UPDATE,
            "warning",
        )
    ]


def updated(composition: Composition, lock: Lock | None) -> Update:
    """The lock recording the composition as it is, unless that would record a breaking change or hide a hand edit."""
    previous = lock or {}
    refusals = [p for p in check_lock(composition, previous) if p.is_error]
    if refusals:
        return Update(previous, refusals)
    now = current(composition)
    result = Update({name: seal(name, entry) for name, (_, entry) in now.items()})
    for name in sorted(set(now) | set(previous)):
        if name not in previous:
            result.notes.append(f"recorded '{name}' ({now[name][1]['contract']} v{now[name][1]['version']})")
        elif name not in now:
            result.notes.append(f"dropped '{name}' (no longer produced)")
        else:
            for change in diff(previous[name], now[name][1]):
                result.notes.append(f"updated '{name}': {change.text}")
    return result
