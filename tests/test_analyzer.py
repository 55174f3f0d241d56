from pipeline.store.analyzer import search_tokens


def test_chinese_is_segmented_into_words():
    tokens = search_tokens("登录失败，账户已锁定").split()
    assert {"登录", "失败", "账户", "锁定"} <= set(tokens)


def test_glued_english_words_gain_their_parts_and_keep_the_original():
    tokens = search_tokens("Paymentfailed PF-4021").split()
    assert tokens[:2] == ["Paymentfailed", "PF-4021"]
    assert {"Payment", "failed"} <= set(tokens)


def test_names_and_codes_are_not_chopped_into_letters():
    assert search_tokens("Yirgacheffe NB-1003") == "Yirgacheffe NB-1003"


def test_plain_text_passes_through():
    assert search_tokens("card declined by issuer") == "card declined by issuer"
    assert search_tokens("") == ""


def test_a_word_glued_to_a_number_gains_both_and_keeps_the_original():
    tokens = search_tokens("install gnuplot5 first").split()
    assert tokens[:3] == ["install", "gnuplot5", "first"] and {"gnuplot", "5"} <= set(tokens)
    assert {"Error", "404"} <= set(search_tokens("Error404: not found").split())
    assert {"2024", "release"} <= set(search_tokens("the 2024release notes").split())


def test_codes_with_short_letter_prefixes_stay_whole():
    assert search_tokens("NB1003 5G PF4021") == "NB1003 5G PF4021"
