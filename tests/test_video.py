import wave

import av
import pytest
from PIL import Image, ImageDraw

from pipeline.errors import BadInput
from pipeline.ingest.video import VideoFile, sniff_video
from tests.media_fixtures import make_text_video

STEPS = [("STEP ONE", 2.0), ("OPEN THE LAPTOP", 2.0), ("STEP THREE", 2.0)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_text_video(tmp_path_factory.mktemp("video") / "clip.mp4", STEPS)


def sample(source, **options):
    settings = {"fps": 1.0, "scene_threshold": 0.0, "max_frames": 100, "max_pixels": 10_000_000, **options}
    with VideoFile(source, "clip.mp4") as video:
        frames = list(video.frames(**settings))
        return frames, video.cut_short_at


def times(frames):
    return [frame.timestamp_s for frame in frames]


def test_frames_are_sampled_at_the_configured_rate_by_presentation_time(clip):
    frames, cut_short_at = sample(clip, fps=1.0)
    assert times(frames) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert cut_short_at is None
    assert frames[0].image.mode == "RGB" and frames[0].image.size == (320, 180)
    assert times(sample(clip, fps=2.0)[0]) == [x / 2 for x in range(12)]
    assert times(sample(clip, fps=0.25)[0]) == [0.0, 4.0]


def test_a_scene_change_between_due_times_gets_its_own_frame(tmp_path):
    cut = make_text_video(tmp_path / "cut.mp4", [("STEP ONE", 2.5), ("OPEN THE LAPTOP", 2.5)])
    assert times(sample(cut, scene_threshold=0.0)[0]) == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert times(sample(cut, scene_threshold=0.01)[0]) == [0.0, 1.0, 2.0, 2.5, 3.0, 4.0]
    assert times(sample(cut, scene_threshold=0.5)[0]) == [0.0, 1.0, 2.0, 3.0, 4.0]  # the text change is no cut


def test_the_frame_cap_stops_sampling_and_says_where(clip):
    frames, cut_short_at = sample(clip, fps=1.0, max_frames=4)
    assert times(frames) == [0.0, 1.0, 2.0, 3.0]
    assert cut_short_at == 4.0


def test_frames_are_scaled_down_to_the_pixel_limit(clip):
    frames, _ = sample(clip, max_pixels=320 * 180 // 4)
    assert frames[0].image.size == (160, 90)


def test_a_rotated_phone_video_comes_out_upright(tmp_path):
    path = tmp_path / "phone.mp4"
    picture = Image.new("RGB", (64, 32), "white")
    ImageDraw.Draw(picture).rectangle((0, 0, 15, 15), fill="black")  # a mark in the stored top-left corner
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        stream.set_display_rotation(90)  # shown turned 90 degrees counter-clockwise
        for index in range(3):
            frame = av.VideoFrame.from_image(picture)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    (frame, *_), _ = sample(path)
    assert frame.image.size == (32, 64)
    assert frame.image.getpixel((4, 60))[0] < 80 and frame.image.getpixel((4, 4))[0] > 200  # the mark is bottom-left


def test_a_video_is_read_from_bytes_too(clip):
    frames, _ = sample(clip.read_bytes(), fps=0.5)
    assert times(frames) == [0.0, 2.0, 4.0]


def wav(path):
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\0\0" * 8000)
    return path


def png(path):
    Image.new("RGB", (16, 16), "red").save(path, format="PNG")
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda path: path.write_text("not a video at all") and path, "not a video that can be decoded"),
        (wav, "the file has no video stream"),
        (png, "an image file named like a video"),
    ],
    ids=["text", "audio only", "image"],
)
def test_files_that_are_not_videos_are_refused_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path / "clip.mp4")
    with pytest.raises(BadInput, match=reason) as refused:
        VideoFile(path, "videos/clip.mp4")
    assert refused.value.source == "videos/clip.mp4"


def test_a_truncated_stream_is_refused(clip):
    data = clip.read_bytes()
    with pytest.raises(BadInput, match="not a video that can be decoded"):
        VideoFile(data[: len(data) // 2], "half.mp4")


def test_containers_are_recognised_by_their_first_bytes(clip):
    assert sniff_video(clip.read_bytes()[:64]) == "video/mp4"
    assert sniff_video(b"\0\0\0\x14ftypqt  \0\0\0\0") == "video/quicktime"
    assert sniff_video(b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\x82\x84webm") == "video/webm"
    assert sniff_video(b"RIFF\0\0\0\0AVI LIST") == "video/x-msvideo"
    assert sniff_video(b"\0\0\0\x1cftypheic\0\0\0\0") is None  # an iPhone photo, not a video
    assert sniff_video(b"RIFF\0\0\0\0WEBPVP8 ") is None
