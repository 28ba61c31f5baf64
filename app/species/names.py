"""Scientific-name normalisation and slugs shared by providers' results, merging and species pages."""
import re
import unicodedata

HYBRID_SIGN = "×"

# Infraspecific rank markers and the spelling we keep for each.
_RANKS = {
    "var.": "var.", "var": "var.",
    "subsp.": "subsp.", "subsp": "subsp.", "ssp.": "subsp.", "ssp": "subsp.",
    "f.": "f.", "fo.": "f.", "forma": "f.",
    "subvar.": "subvar.", "nothosubsp.": "nothosubsp.", "nothovar.": "nothovar.",
}
_EPITHET = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_QUOTES = "'‘’\"“”"
_CULTIVAR = re.compile(f"^[{_QUOTES}]")


def _is_hybrid_marker(token: str) -> bool:
    return token in (HYBRID_SIGN, "x", "X")


def _is_epithet(token: str) -> bool:
    return bool(_EPITHET.fullmatch(token)) and token.lower() not in ("ex", "et", "in", "sp", "spp")


def _closes_quote(token: str, *, first: bool) -> bool:
    return token[-1] in _QUOTES and (len(token) > 1 or not first)


def _tokens(name: str) -> list[str]:
    text = unicodedata.normalize("NFC", name).replace("\u00a0", " ")
    # "Mentha ×piperita" and "×Fatshedera" carry the sign glued to the next word.
    text = re.sub(rf"{HYBRID_SIGN}(?=\S)", f"{HYBRID_SIGN} ", text)
    return text.split()


def normalise_scientific_name(name: str) -> str:
    """Return the bare scientific name: genus, epithet and ranked infraspecies, no authorship."""
    tokens = _tokens(name or "")
    out: list[str] = []
    i = 0
    if tokens and _is_hybrid_marker(tokens[0]) and len(tokens) > 1 and _is_epithet(tokens[1]):
        out.append(HYBRID_SIGN)
        i = 1
    if i >= len(tokens) or not _is_epithet(tokens[i]):
        return " ".join(tokens)
    out.append(tokens[i][:1].upper() + tokens[i][1:].lower())
    i += 1

    if i + 1 < len(tokens) and _is_hybrid_marker(tokens[i]) and _is_epithet(tokens[i + 1]):
        out.append(HYBRID_SIGN)
        i += 1
    if i < len(tokens) and _is_epithet(tokens[i]):
        out.append(tokens[i].lower())
        i += 1
    else:
        return " ".join(out)

    # Authors may sit between the species and a rank ("Brassica oleracea L. var. capitata L."),
    # so skip anything that is not a rank marker or a cultivar epithet.
    while i < len(tokens):
        token = tokens[i]
        rank = _RANKS.get(token.lower())
        if rank and i + 1 < len(tokens) and _is_epithet(tokens[i + 1]):
            out.extend((rank, tokens[i + 1].lower()))
            i += 2
            continue
        if _CULTIVAR.match(token):
            end = i
            while end + 1 < len(tokens) and not _closes_quote(tokens[end], first=end == i):
                end += 1
            words = " ".join(tokens[i:end + 1]).strip(_QUOTES)
            if words:
                out.append(f"'{words}'")
            i = end + 1
            continue
        i += 1
    return " ".join(out)


def slugify_name(name: str) -> str:
    """Turn a name into a URL slug such as "monstera-deliciosa"."""
    text = (name or "").replace(HYBRID_SIGN, " x ")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
