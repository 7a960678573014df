"""WikiText2DataModule reads the raw release (`wiki.{train,valid,test}.raw`) with blank lines removed, as the
reference recipe prepared `wikitext-2-raw-v1`."""

from data_modules import WikiText2DataModule

RAW_TRAIN = (" \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : Unrecorded Chronicles is a tactical "
             "role @-@ playing video game .\n \n \n The game began development in 2010 , carrying over a large "
             "portion of the work .\n = = Gameplay = = \n")  # the raw layout: " " blank lines, spaced headings
RAW_VALID = " \n = Homarus gammarus = \n \n Homarus gammarus , known as the European lobster , is a species .\n"
RAW_TEST = " \n = Robert Boulter = \n \n Robert Boulter is an English film , television and theatre actor .\n"


def _body(dm, split: str) -> list[int]:
    return [i for block in dm.splits[split]["input_ids"] for i in block[1:-1]]  # without [CLS]/[SEP]


def test_raw_files_are_read_without_blank_lines(tmp_path):
    folder = tmp_path / "wikitext-2-raw"
    folder.mkdir()
    for name, text in (("train", RAW_TRAIN), ("valid", RAW_VALID), ("test", RAW_TEST)):
        (folder / f"wiki.{name}.raw").write_text(text, encoding="utf-8")
    dm = WikiText2DataModule(data_dir=str(folder), block_size=512, cache_dir=str(tmp_path / "cache"))
    dm.setup("fit")
    dm.setup("test")
    assert [dm.source_files(s)[0].name for s in ("train", "validation", "test")] == [
        "wiki.train.raw", "wiki.valid.raw", "wiki.test.raw"]
    tok = dm.tokenizer
    for split, text in (("train", RAW_TRAIN), ("validation", RAW_VALID), ("test", RAW_TEST)):
        kept = [line.strip() for line in text.splitlines() if line.strip()]
        assert len(kept) == len([line for line in text.splitlines() if line.strip()]) < len(text.splitlines())
        expected = [i for ids in tok(kept, add_special_tokens=False)["input_ids"] for i in ids]
        assert _body(dm, split) == expected
