"""`cnnsize.listing.packed`: a long list as a panel shows it, in lines no wider than the panel's
other values, the first few, then how many more."""

from __future__ import annotations

from cnnsize.listing import packed


def test_items_are_packed_to_the_width_each_line_but_the_last_ending_in_a_comma():
    items = ["a" * 10] * 5
    # "aaaaaaaaaa, aaaaaaaaaa," is 10 + 2 + 10 + 1 = 23 <= 25; a third would make 23 + 1 + 10 = 34
    assert packed(items, 25, 9) == ["aaaaaaaaaa, aaaaaaaaaa,", "aaaaaaaaaa, aaaaaaaaaa,", "aaaaaaaaaa"]
    assert all(len(line) <= 25 for line in packed(items, 25, 9))


def test_at_most_rows_lines_then_how_many_more():
    items = [f"b{i}" for i in range(10)]  # "b0, b1," is 2 + 2 + 2 + 1 = 7 <= 8: two a line
    assert packed(items, 8, 2) == ["b0, b1,", "b2, b3,", "... and 6 more"]  # 10 - 4 shown


def test_an_item_wider_than_the_line_has_a_line_of_its_own_and_nothing_is_empty():
    assert packed(["x" * 30, "y"], 10, 3) == ["x" * 30 + ",", "y"]
    assert packed(["only"], 10, 3) == ["only"]
    assert packed([], 10, 3) == []
