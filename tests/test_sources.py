import json

import pytest

from pipeline.errors import BadInput
from pipeline.ingest.sources import collect, read_manifest


def test_folders_are_walked_recursively_and_files_kept(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/one.png", "a/b/two.jpg", "three.txt"):
        (tmp_path / name).write_bytes(b"x")
    collected = collect([tmp_path])
    assert sorted(item.uri for item in collected.items) == sorted(
        str((tmp_path / name).resolve()) for name in ("a/one.png", "a/b/two.jpg", "three.txt")
    )
    assert not collected.problems


def test_missing_paths_are_problems_not_crashes(tmp_path):
    collected = collect([tmp_path / "nope.png"])
    assert [str(problem) for problem in collected.problems] == [f"{tmp_path / 'nope.png'}: no such file or folder"]


def test_url_arguments_become_url_items_kept_as_given_beside_paths(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "manual.pdf").write_bytes(b"%PDF")
    urls = ["https://cdn.example.com/a.png?size=large&v=2", "HTTP://Example.com/clip.mp4#t=3"]
    collected = collect([urls[0], str(tmp_path / "folder"), urls[1]])
    assert not collected.problems
    assert [(item.uri, item.origin, item.is_url) for item in collected.items] == [
        (urls[0], urls[0], True),
        (str((tmp_path / "folder" / "manual.pdf").resolve()), str(tmp_path / "folder" / "manual.pdf"), False),
        (urls[1], urls[1], True),
    ]


@pytest.mark.parametrize(
    ("argument", "reason"),
    [
        ("ftp://example.com/a.png", "ftp URLs are not fetched (http and https only)"),
        ("file:///etc/passwd", "file URLs are not fetched (http and https only)"),
    ],
)
def test_other_url_schemes_are_problems_naming_the_argument(tmp_path, argument, reason):
    collected = collect([argument, str(tmp_path)])
    assert not collected.items
    assert [(problem.source, problem.reason) for problem in collected.problems] == [(argument, reason)]


def test_jsonl_manifest_resolves_paths_against_its_folder_and_keeps_metadata(tmp_path):
    (tmp_path / "sub").mkdir()
    manifest = tmp_path / "sub" / "m.jsonl"
    rows = [
        {"path": "img/a.png", "ticket_id": "SUP-1", "priority": 3, "urgent": True},
        {"url": "https://example.com/x.jpg", "ticket_id": "SUP-2"},
    ]
    manifest.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    collected = read_manifest(manifest)
    assert not collected.problems
    first, second = collected.items
    assert first.uri == str((tmp_path / "sub" / "img" / "a.png").resolve())
    assert first.metadata == {"ticket_id": "SUP-1", "priority": "3", "urgent": "true"}
    assert second.uri == "https://example.com/x.jpg" and second.is_url
    assert second.metadata == {"ticket_id": "SUP-2"}


def test_csv_manifest(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,ticket_id,category\na.png,SUP-1,billing\nb.png,,login\n")
    items = read_manifest(manifest).items
    assert [item.metadata for item in items] == [{"ticket_id": "SUP-1", "category": "billing"}, {"category": "login"}]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"ticket_id": "x"}', "exactly one of 'path' or 'url'"),
        ('{"path": "a.png", "url": "https://e.com/a.png"}', "exactly one of 'path' or 'url'"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"path": "a.png", "uri": "x"}', "'uri' is reserved"),
        ('{"path": "a.png", "bad name": "x"}', "column name 'bad name'"),
        ('{"url": "ftp://e.com/a.png"}', "url 'ftp://e.com/a.png': ftp URLs are not fetched (http and https only)"),
        ('{"url": 5}', "url must be a string"),
        ('{"path": 5}', "path must be a string"),
    ],
)
def test_bad_manifest_rows_are_named_with_their_line(tmp_path, line, reason):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "good.png"}\n' + line + "\n")
    collected = read_manifest(manifest)
    assert len(collected.items) == 1
    (problem,) = collected.problems
    assert problem.source.startswith(f"{manifest} line 2")
    assert reason in problem.reason


def test_unusable_manifests_are_refused(tmp_path):
    with pytest.raises(BadInput, match="manifest not found"):
        read_manifest(tmp_path / "missing.jsonl")
    other = tmp_path / "m.txt"
    other.write_text("x")
    with pytest.raises(BadInput, match="must be .jsonl or .csv"):
        read_manifest(other)
    header = tmp_path / "dup.csv"
    header.write_text("path,a,a\nx.png,1,2\n")
    with pytest.raises(BadInput, match="repeats column"):
        read_manifest(header)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert [p.reason for p in read_manifest(empty).problems] == ["manifest has no rows"]


# rows a hostile colleague writes: each is a bad line, the rest of the manifest still counts ----------


def test_a_line_of_deeply_nested_json_is_a_bad_line_and_the_other_lines_are_collected(tmp_path):
    for name in ("good.png", "other.png"):
        (tmp_path / name).write_bytes(b"x")
    nested_value = "[" * 100 + "]" * 100
    manifest = tmp_path / "m.jsonl"
    lines = [
        '{"path": "good.png", "category": "a"}',
        "[" * 100_000,
        '{"path": "good.png", "deep": ' + nested_value + "}",
        '{"path": "other.png", "big": ' + "1" * 5000 + "}",
        '{"path": "other.png"}',
    ]
    manifest.write_text("\n".join(lines) + "\n")
    collected = collect([], manifest=manifest)
    assert [item.uri for item in collected.items] == [
        str((tmp_path / "good.png").resolve()),
        str((tmp_path / "other.png").resolve()),
    ]
    problems = {problem.source: problem.reason for problem in collected.problems}
    assert set(problems) == {f"{manifest} line {number}" for number in (2, 3, 4)}
    assert "nested too deeply (limit 64 levels)" in problems[f"{manifest} line 2"]
    assert "nested too deeply (limit 64 levels)" in problems[f"{manifest} line 3"]
    assert "not valid JSON" in problems[f"{manifest} line 4"]


def test_a_csv_row_csv_cannot_read_is_a_bad_line_and_the_other_rows_are_collected(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,note\na.png,fine\nb.png," + "x" * 200_000 + "\nc.png,fine\n")
    collected = read_manifest(manifest)
    assert [item.uri for item in collected.items] == [str((tmp_path / name).resolve()) for name in ("a.png", "c.png")]
    (problem,) = collected.problems
    assert problem.source == f"{manifest} line 3" and "not a readable CSV row" in problem.reason
    header = tmp_path / "header.csv"
    header.write_text("path," + "x" * 200_000 + "\na.png,1\n")
    with pytest.raises(BadInput, match="CSV header row cannot be read") as caught:
        read_manifest(header)
    assert caught.value.source == str(header)
