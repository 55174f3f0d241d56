import html

from pipeline.search.highlight import Segment, chart_text, escape, highlight, matched_terms, to_html


def marked(segments: list[Segment]) -> list[str]:
    return [segment.text for segment in segments if segment.matched]


def test_english_terms_match_whole_words_ignoring_case():
    segments = highlight("Payment FAILED: your card was declined. Login again.", "card declined failed in")
    assert marked(segments) == ["FAILED", "card", "declined"]  # "in" is not a word of "Login"
    assert "".join(segment.text for segment in segments) == "Payment FAILED: your card was declined. Login again."


def test_chinese_terms_are_segmented_like_the_index():
    segments = highlight("错误代码NB-1003：密码错误次数过多，账户已锁定30分钟。", "账户锁定")
    assert marked(segments) == ["账户", "锁定"]
    assert matched_terms("登录失败，请重试", "登录 失败") == ["失败", "登录"]


def test_words_that_ocr_glued_together_are_found_inside_the_run():
    assert marked(highlight("Paymentfailed ErrorPF-4021:Yourcardwasdeclined", "payment failed")) == ["Paymentfailed"]
    assert marked(highlight("ErrorPF-4021:Yourcardwasdeclined", "declined card")) == ["card", "declined"]


def test_an_error_code_is_marked_as_one_piece():
    assert marked(highlight("Error PF-4021: declined", "PF-4021")) == ["PF-4021"]


def test_window_around_the_first_match():
    text = "lorem " * 50 + "quota exceeded " + "ipsum " * 100
    segments = highlight(text, "quota", max_chars=120)
    assert segments[0] == Segment("…") and segments[-1] == Segment("…")
    assert marked(segments) == ["quota"]
    assert sum(len(segment.text) for segment in segments[1:-1]) == 120


def test_no_match_gives_the_text_unmarked():
    assert highlight("nothing here", "zebra") == [Segment("nothing here")]


def test_html_and_markdown_are_escaped():
    markup = to_html(highlight("<b>x</b> **bold** $5 :red[y] card\nnext", "card"))
    assert "<b>" not in markup and "**" not in markup and "$" not in markup and ":red[" not in markup
    assert "<mark>card</mark><br>next" in markup
    assert to_html([Segment("a\nb")], inline=True) == "a · b"
    assert escape("it's <ok> & [so](on)") == "it&#39;s &#60;ok&#62; &#38; &#91;so&#93;&#40;on&#41;"


def test_chart_text_keeps_plotly_from_reading_links_and_tags():
    hostile = '<a href="http://evil.example/x">billing</a> & <b>more</b>'
    assert (
        chart_text(hostile) == '&lt;a href="http://evil.example/x"&gt;billing&lt;/a&gt; &amp; &lt;b&gt;more&lt;/b&gt;'
    )
    assert html.unescape(chart_text(hostile)) == hostile  # Plotly shows the characters themselves
