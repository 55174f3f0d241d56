import pypdfium2 as pdfium
import pytest

from pipeline.errors import BadInput
from pipeline.ingest.pdf import PdfFile, is_pdf, normalise_text, render_page
from tests.media_fixtures import make_scanned_pdf, make_text_pdf

PAGES = ["Welcome to the coffee machine manual", "To clean it, replace the filter cartridge", "Warranty and service"]


@pytest.fixture(scope="module")
def manual(tmp_path_factory):
    return make_text_pdf(tmp_path_factory.mktemp("pdf") / "manual.pdf", PAGES)


def test_each_page_has_its_number_text_layer_and_a_rendering_at_the_dpi(manual):
    pdf = PdfFile(manual, "manual.pdf")
    assert pdf.page_count == 3
    page = pdf.read_page(2, dpi=72, max_pixels=10_000_000)
    assert page.number == 2
    assert page.text == "To clean it, replace the filter cartridge"
    assert page.image.mode == "RGB" and page.image.size == pytest.approx((595, 842), abs=1)  # A4 at 72 dpi
    assert pdf.read_page(1, dpi=144, max_pixels=10_000_000).image.width == pytest.approx(1190, abs=1)


def test_a_rendering_never_exceeds_the_pixel_limit(manual):
    image = PdfFile(manual, "manual.pdf").read_page(1, dpi=600, max_pixels=200_000).image
    assert image.width * image.height <= 200_000
    assert image.width > 300  # scaled to the limit, not collapsed


def test_a_scanned_page_has_no_text_layer(tmp_path):
    pdf = PdfFile(make_scanned_pdf(tmp_path / "scan.pdf", ["DESCALE THE BOILER"]), "scan.pdf")
    page = pdf.read_page(1, dpi=50, max_pixels=10_000_000)
    assert page.text == ""
    assert page.image.getextrema() != ((255, 255), (255, 255), (255, 255))  # the scan is in the pixels


def test_the_pdf_is_read_from_bytes_too(manual):
    assert PdfFile(manual.read_bytes(), "upload.pdf").read_page(3, dpi=36, max_pixels=10**6).text == PAGES[2]


def empty_pdf(path):
    document = pdfium.PdfDocument.new()
    document.save(str(path))
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: make_text_pdf(path, ["secret"], password="pw"), "password-protected"),
        (lambda path: path.write_bytes(b"%PDF-1.7\nthis is not really a PDF\n") and path, "not a valid PDF"),
        (lambda path: path.write_bytes(make_text_pdf(path, PAGES).read_bytes()[:400]) and path, "not a valid PDF"),
        (empty_pdf, "not a valid PDF"),
    ],
    ids=["encrypted", "garbage", "truncated", "no pages"],
)
def test_unreadable_pdfs_are_refused_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path / "bad.pdf")
    with pytest.raises(BadInput, match=reason) as refused:
        PdfFile(path, "docs/bad.pdf")
    assert refused.value.source == "docs/bad.pdf"


def test_render_page_fits_the_longer_side_and_refuses_a_missing_page(manual):
    image = render_page(manual, 2, max_side=400)
    assert max(image.size) == pytest.approx(400, abs=1) and image.height > image.width
    with pytest.raises(BadInput, match="no such page: the PDF has 3"):
        render_page(manual, 4, max_side=400)


def test_pdf_header_and_text_normalisation():
    assert is_pdf(b"%PDF-1.7\n...") and is_pdf(b"\xef\xbb\xbf%PDF-1.4")
    assert not is_pdf(b"\x89PNG\r\n\x1a\n")
    assert normalise_text("  Step\t 1:\r\n\r\n  open   the lid \n") == "Step 1:\nopen the lid"
