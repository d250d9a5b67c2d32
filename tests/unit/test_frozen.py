"""machine.frozen behaves as frozen dataclasses do, where the project relies on it."""

from __future__ import annotations

from typing import ClassVar

import pytest

from machine.frozen import FrozenInstanceError, field, fields, frozen, replace


@frozen
class Base:
    a: str = ""
    b: int = 0
    kind: ClassVar[str] = "base"


@frozen
class Child(Base):
    c: tuple[str, ...] = ()
    d: dict[str, int] = field(default_factory=dict, compare=False)
    b: int = 5  # redefined: keeps its place, takes the new default
    e: str = field(default="x", metadata={"flag": "e-flag"})


@frozen
class Required:
    name: str
    size: int = 1


def test_fields_in_order_bases_first() -> None:
    assert [f.name for f in fields(Child)] == ["a", "b", "c", "d", "e"]
    assert [f.name for f in fields(Child())] == ["a", "b", "c", "d", "e"]
    assert fields(Child)[4].metadata == {"flag": "e-flag"}
    assert fields(Child)[1].default == 5
    assert Child.kind == "base"  # a ClassVar is no field


def test_construction_defaults_and_factories() -> None:
    one, two = Child(), Child()
    assert (one.a, one.b, one.c, one.e) == ("", 5, (), "x")
    assert one.d == {} and one.d is not two.d
    assert Child("p", 2).b == 2
    assert Required("n").size == 1 and Required(name="n", size=3).size == 3
    with pytest.raises(TypeError):
        Required()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Required("n", nope=1)  # type: ignore[call-arg]


def test_frozen_equal_and_hashable() -> None:
    one = Child(a="x", d={"k": 1})
    with pytest.raises(FrozenInstanceError):
        one.a = "y"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del one.a
    assert one == Child(a="x")  # d is not compared
    assert one != Child(a="y")
    assert Base(a="x") != Child(a="x", b=0)  # another class is never equal
    assert hash(Base("x", 1)) == hash(Base("x", 1))
    assert {Base("x"), Base("x")} == {Base("x")}


def test_replace_and_repr() -> None:
    one = Child(a="x")
    two = replace(one, b=9)
    assert (two.a, two.b, one.b) == ("x", 9, 5)
    with pytest.raises(TypeError):
        replace(one, nope=1)
    assert repr(Base("x", 1)) == "Base(a='x', b=1)"


def test_mutable_defaults_are_refused() -> None:
    with pytest.raises(ValueError):

        @frozen
        class Bad:
            items: list[str] = []  # noqa: RUF012


def test_a_class_with_slots_is_made_too() -> None:
    # values normally go straight into the instance's __dict__; a slotted class has none
    @frozen
    class Slotted:
        __slots__ = ("a", "b")
        a: int
        b: str

    s = Slotted(1, b="x")
    assert (s.a, s.b) == (1, "x")
    assert not hasattr(s, "__dict__")
    with pytest.raises(FrozenInstanceError):
        s.a = 2  # type: ignore[misc]
