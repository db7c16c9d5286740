"""KB-match flags (model/gazetteer.py): which words a knowledge-base name covers, per type."""
from __future__ import annotations

from typeprior.model.gazetteer import BEGIN, INSIDE, NONE, Gazetteer

NAMES = {"LOC": ["New York City", "New York", "York", "Paris"], "PER": ["Paris Hilton", "George Bush"],
         "MISC": ["jazz"], "OTHER": ["Kenya"]}


def test_longest_name_first_per_type_and_any_case_but_not_a_lower_case_word_for_a_capitalised_name() -> None:
    g = Gazetteer(NAMES, ["LOC", "PER", "MISC"])
    words = "NEW YORK CITY and Paris Hilton met in new york to hear jazz".split()
    flags = g.flags(words)
    loc = [f[0] for f in flags]
    per = [f[1] for f in flags]
    misc = [f[2] for f in flags]
    assert loc[:3] == [BEGIN, INSIDE, INSIDE]  # the longest LOC name, in a headline's capitals
    assert loc[4] == BEGIN and per[4:6] == [BEGIN, INSIDE]  # each type matches on its own
    assert loc[8:10] == [NONE, NONE]  # "new york" in lower case is not the capitalised name
    assert misc[-1] == BEGIN  # a lower-case name matches lower-case words
    assert len(g) == 7 and g.longest == 3  # "Kenya" is of a type the model does not have


def test_no_names_no_flags() -> None:
    assert Gazetteer({}, ["LOC"]).flags(["Paris"]) == [[NONE]]
    assert Gazetteer(NAMES, ["LOC"]).flags([]) == []
