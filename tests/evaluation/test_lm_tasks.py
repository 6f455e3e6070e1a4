"""The offline task YAMLs and their helpers (evaluation/lm_tasks/utils.py): prompts, labels, metrics."""
import json

import pytest

from evaluation.lm_tasks import utils
from evaluation.runner import task_manager_for


@pytest.fixture
def tasks(small_pack):
    names = ["qnlieu_local", "eus_trivia_local", "wiceu_local", "epec_koref_bin_local"]
    return task_manager_for(names).load(names)["tasks"]


def test_prompts_and_labels_follow_the_upstream_tasks(tasks):
    qnli = tasks["qnlieu_local"]
    doc = qnli.eval_docs[0]  # label "not_entailment" -> label_id 1 -> "ez"
    assert doc["label"] == "not_entailment"
    assert qnli.doc_to_choice(doc)[qnli.doc_to_target(doc)] == "ez"
    trivia = tasks["eus_trivia_local"]
    text = trivia.doc_to_text(trivia.eval_docs[1])
    assert text.startswith("Galdera: Zein da 69 zenbakiaren hurrengoa?\nA: 96\n") and text.endswith("\nErantzuna:")
    assert trivia.doc_to_choice(trivia.eval_docs[1]) == ["A", "B", "C", "D"]


def test_wic_text_is_unescaped_and_detokenised(tasks):
    wic = tasks["wiceu_local"]
    raw = json.dumps([d["sentence1"] + d["sentence2"] for d in wic.dataset["test"]], ensure_ascii=False)
    prompts = json.dumps([wic.doc_to_text(d) for d in wic.eval_docs], ensure_ascii=False)
    assert "&quot;" in raw and "&quot;" not in prompts
    assert " ," not in prompts and " ." not in prompts


def test_wic_mojibake_is_repaired_per_sentence_keeping_the_clean_ones(data_pack):
    """153 sentences of the shipped WiC hold latin-1 mojibake as HTML entities ("I&Atilde;±aki");
    a few sentences were already repaired in the pack and must stay as they are."""
    import datasets

    path = data_pack / "basque" / "benchmarks" / "basqueglue_wic.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    docs = utils.wic_process_docs(datasets.Dataset.from_list(items))
    sentences = [doc[key] for doc in docs for key in ("sentence1", "sentence2")]
    assert not [s for s in sentences if "Ã" in s or "&Atilde;" in s]
    assert docs[18]["sentence1"].startswith("Iñaki Abaituak bere esku hutsei begiratu zien,")
    assert "POLIZIAK Iñaki Ruiz Alfranca" in docs[1004]["sentence2"]  # repaired in the pack: kept
    assert utils.repair_mojibake("Euskaltzaindia, Real Academia Española") == "Euskaltzaindia, Real Academia Española"


def test_coref_marks_both_spans(tasks):
    coref = tasks["epec_koref_bin_local"]
    text = coref.doc_to_text(coref.eval_docs[0])  # span2_index is 1-based in the source
    assert text.startswith("Testua: Hala ere, beste urte baterako kontratua zuenez, *bertan* gelditzeko")
    assert "Moralesi, *Baskoniak* beste" in text
    assert text.endswith('Galdera: Aurreko testuan, "*bertan*" eta "*Baskoniak*" gauza bera dira?\nErantzuna:')


def test_trivia_choices_follow_the_number_of_candidates():
    assert utils.trivia_doc_to_choice({"candidates": ["bai", "ez"]}) == ["A", "B"]
    with pytest.raises(ValueError, match="fewer than 2 candidates"):
        utils.trivia_doc_to_text({"id": "7", "question": "?", "candidates": ["bai"]})


def test_micro_f1_is_accuracy_and_vaxx_f1_averages_against_and_favor():
    items = [(0, 0), (1, 2), (2, 2), (0, 1)]  # (gold, prediction)
    assert utils.micro_f1_score(items) == 0.5
    # AGAINST (0): tp 1, fp 0, fn 1 -> 2/3. FAVOR (2): tp 1, fp 1, fn 0 -> 2/3. NEUTRAL is left out.
    assert utils.vaxx_f1_score(items) == pytest.approx(2 / 3)
    assert utils.vaxx_f1_score([(1, 1), (1, 1)]) == 0.0  # no AGAINST/FAVOR hit at all
