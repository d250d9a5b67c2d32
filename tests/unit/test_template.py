"""The Go text/template subset: what scripts put in `inspect -f` and `ls --format`."""

from __future__ import annotations

import pytest

from machine.errors import TemplateError
from machine.render.template import loose, render

HOST = {
    "Name": "web",
    "DriverName": "generic",
    "Driver": {"IPAddress": "10.0.0.5", "SSHPort": 22, "Tags": ["a", "b"]},
    "HostOptions": {
        "AuthOptions": {"StorePath": "/s/machines/web"},
        "EngineOptions": {"Labels": ["env=prod", "tier=web"], "TlsVerify": True, "Env": []},
    },
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.HostOptions.AuthOptions.StorePath}}", "/s/machines/web"),
        ("{{.Driver.IPAddress}}:{{.Driver.SSHPort}}", "10.0.0.5:22"),
        ("{{json .Driver.Tags}}", '["a","b"]'),
        ("{{.Driver.Tags | json}}", '["a","b"]'),
        ("{{prettyjson .Driver.Tags}}", '[\n    "a",\n    "b"\n]'),
        ('{{index .Driver "IPAddress"}}', "10.0.0.5"),
        ("{{index .HostOptions.EngineOptions.Labels 1}}", "tier=web"),
        ("{{range .HostOptions.EngineOptions.Labels}}[{{.}}]{{end}}", "[env=prod][tier=web]"),
        ("{{range $i, $l := .Driver.Tags}}{{$i}}={{$l}} {{end}}", "0=a 1=b "),
        ("{{range .HostOptions.EngineOptions.Env}}x{{else}}none{{end}}", "none"),
        ("{{if .HostOptions.EngineOptions.TlsVerify}}tls{{else}}plain{{end}}", "tls"),
        ('{{if eq .DriverName "none"}}n{{else if eq .DriverName "generic"}}g{{end}}', "g"),
        ("{{with .Driver}}{{.IPAddress}}{{end}}", "10.0.0.5"),
        ("{{$ip := .Driver.IPAddress}}{{$ip}}", "10.0.0.5"),
        ("{{len .Driver.Tags}}", "2"),
        ('{{printf "%s-%d" .Name .Driver.SSHPort}}', "web-22"),
        ('{{upper .Name}} {{join .Driver.Tags ","}}', "WEB a,b"),
        ("a  {{- .Name -}}  b", "awebb"),
        ("{{/* a comment */}}x", "x"),
        ("{{.Driver.Tags}} {{.HostOptions.EngineOptions.TlsVerify}}", "[a b] true"),
        ("{{range $.Driver.Tags}}{{$.Name}}{{end}}", "webweb"),
        ("{{if and .Name (not .Driver.Missing)}}y{{end}}", "y"),
    ],
)
def test_renders(template: str, expected: str) -> None:
    data = dict(HOST, Driver=loose(HOST["Driver"]))  # type: ignore[arg-type]
    assert render(template, data) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{.Nope}}", "can't evaluate field Nope"),
        ('{{template "x"}}', "is not supported"),
        ("{{frobnicate .Name}}", 'function "frobnicate" not defined'),
        ("{{if .Name}}unclosed", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{.Name .Name}}", "can't give argument to non-function"),
    ],
)
def test_clear_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(template, HOST)
    assert message in info.value.message


def test_missing_key_of_a_map_prints_no_value() -> None:
    assert render("{{.Driver.Nope}}", {"Driver": loose({})}) == "<no value>"


def test_fields_used_tells_what_a_format_reads() -> None:
    from machine.render.template import fields_used, parse

    assert fields_used(parse('{{.Name}}\t{{ .State | printf "%s" }}')) == {"Name", "State"}
    assert fields_used(parse("{{if .Error}}{{.Error}}{{else}}{{.URL}}{{end}}")) == {"Error", "URL"}
    assert fields_used(parse("{{.SwarmOptions.Master}}")) == {"SwarmOptions"}
    assert fields_used(parse('{{printf "%v" (.Name)}}')) == {"Name"}
    # the whole of the data may be read: the dot, a variable, or a moved dot
    assert fields_used(parse("{{json .}}")) is None
    assert fields_used(parse("{{$.Name}}")) is None
    assert fields_used(parse("{{range .Labels}}{{.}}{{end}}")) is None
    assert fields_used(parse("{{with .EngineOptions}}{{.Labels}}{{end}}")) is None
