"""Synthetic ShapesWorld videos: shapes that move, cross, leave and enter, with per-frame truth.

Every frame is drawn with the still-image routines (`render.visible_masks`, `render.RENDERERS`,
`render.draw_background`), so a frame and a still scene share one notion of truth: an object more
than 55% hidden by objects drawn after it is left out of that frame's pixels and masks alike, and a
tracker has to carry its identity across the gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sam3.video.writer import write_mp4  # noqa: F401 - re-exported: clips are written with the runtime writer
from shapesworld.render import RENDERERS, boxes_of, draw_background, visible_masks
from shapesworld.scene import (
    COLOURS,
    SHAPES,
    Background,
    Shape,
    _contrast_ok,
    sample_background,
    sample_shape,
)

MIN_SECONDS, MAX_SECONDS = 2.0, 10.0
MAX_FPS = 60
_UPRIGHT = ("square", "diamond")  # turned by 45 degrees a square reads as a diamond, so these never spin


@dataclass(frozen=True)
class VideoTrack:
    """One object over time: its look, and its centre (x0, y0) at frame `enter` in pixels.

    A free track (`bounds` None) keeps its speed while its heading turns `turn` degrees a frame,
    so it may drift out of the picture; a bouncing track moves straight and reflects off `bounds`
    (xmin, ymin, xmax, ymax of its centre). `spin` is degrees a frame. The object exists in frames
    [enter, exit); `exit` stops a free track that left from curving back in as the same object.
    """

    id: int
    kind: str
    colour: str
    rgb: tuple[int, int, int]
    radius: float
    x0: float
    y0: float
    vx: float
    vy: float
    angle0: float = 0.0
    spin: float = 0.0
    turn: float = 0.0
    bounds: tuple[float, float, float, float] | None = None
    enter: int = 0
    exit: int | None = None
    aspect: float = 1.0
    inner: float = 0.45

    def __post_init__(self) -> None:
        if self.kind not in SHAPES or self.colour not in COLOURS:
            raise ValueError(f"unknown shape {self.colour!r} {self.kind!r}")
        if self.radius <= 0:
            raise ValueError(f"radius must be positive, got {self.radius}")
        if self.enter < 0 or (self.exit is not None and self.exit <= self.enter):
            raise ValueError(f"need 0 <= enter < exit, got enter={self.enter} exit={self.exit}")
        if self.bounds is not None and self.turn:
            raise ValueError("bouncing tracks move straight: turn must be 0")

    @property
    def speed(self) -> float:
        """Pixels a frame; no frame-to-frame step of the centre is longer."""
        return math.hypot(self.vx, self.vy)

    def centres(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre x, y at the given frames (also outside [enter, exit), where the motion extrapolates)."""
        tau = np.asarray(frames, float) - self.enter
        if self.bounds is not None:
            xmin, ymin, xmax, ymax = self.bounds
            return _fold(self.x0 + self.vx * tau, xmin, xmax), _fold(self.y0 + self.vy * tau, ymin, ymax)
        if not self.turn:
            return self.x0 + self.vx * tau, self.y0 + self.vy * tau
        omega = math.radians(self.turn)
        heading = math.atan2(self.vy, self.vx)
        r = self.speed / omega
        x = self.x0 + r * (np.sin(heading + omega * tau) - math.sin(heading))
        y = self.y0 - r * (np.cos(heading + omega * tau) - math.cos(heading))
        return x, y

    def shape_at(self, frame: int) -> Shape | None:
        """The object's `Shape` at `frame`, or None when it does not exist then."""
        if frame < self.enter or (self.exit is not None and frame >= self.exit):
            return None
        x, y = self.centres(np.array([frame]))
        return Shape(
            kind=self.kind,
            colour=self.colour,
            cx=float(x[0]),
            cy=float(y[0]),
            radius=self.radius,
            angle=self.angle0 + self.spin * (frame - self.enter),
            rgb=self.rgb,
            aspect=self.aspect,
            inner=self.inner,
        )


def _fold(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Straight motion reflected between two walls (a triangle wave); a step never gets longer."""
    span = hi - lo
    if span <= 0:
        return np.full_like(u, lo)
    m = np.mod(u - lo, 2 * span)
    return lo + span - np.abs(m - span)


@dataclass
class VideoScene:
    """A video's layout. `tracks` are listed back to front: one draw order for every frame, so
    whichever object is in front when two cross stays in front."""

    width: int
    height: int
    fps: int
    n_frames: int
    tracks: list[VideoTrack]
    background: Background
    renderer: str
    seed: int

    def shapes_at(self, frame: int) -> tuple[list[int], list[Shape]]:
        """Ids and shapes of the objects existing at `frame`, back to front (some may be off-picture)."""
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"frame {frame} outside [0, {self.n_frames})")
        ids, shapes = [], []
        for track in self.tracks:
            shape = track.shape_at(frame)
            if shape is not None:
                ids.append(track.id)
                shapes.append(shape)
        return ids, shapes


@dataclass
class RenderedVideo:
    """Per frame t: `ids[t]` (N_t,) int64 track ids, `masks[t]` (N_t, H, W) bool visible parts and
    `boxes[t]` (N_t, 4) xyxy pixels with exclusive max, all in the same order (back to front)."""

    frames: np.ndarray
    ids: list[np.ndarray]
    masks: list[np.ndarray]
    boxes: list[np.ndarray]
    video: VideoScene


def _outside(x: np.ndarray, y: np.ndarray, r: float, width: int, height: int) -> np.ndarray:
    """Whether a shape of circumradius r centred at (x, y) is surely out of the picture."""
    return (x + r < 0) | (x - r > width) | (y + r < 0) | (y - r > height)


def _with_exit(track: VideoTrack, n_frames: int, width: int, height: int) -> VideoTrack | None:
    """Ends a free track at the first frame it is fully gone after having been seen; None if never seen."""
    frames = np.arange(track.enter, n_frames)
    out = _outside(*track.centres(frames), track.radius, width, height)
    if out.all():
        return None
    first_in = int(np.argmin(out))
    gone = out[first_in:]
    if track.bounds is None and gone.any():
        return replace(track, exit=int(frames[first_in + np.argmax(gone)]))
    return track


def _sample_look(rng: np.random.Generator, width: int, height: int, background: Background) -> Shape:
    """Kind, colour and size as in still scenes, but smaller so several objects have room to move.
    Unlike a still scene, which drops a shape that never contrasts, a video keeps the last try."""
    for _ in range(20):
        shape = sample_shape(rng, width, height, min_frac=0.06, max_frac=0.15)
        if _contrast_ok(shape.rgb, background):
            return shape
    return shape


def _sample_track(
    rng: np.random.Generator, role: str, track_id: int, placed: list[VideoTrack],
    width: int, height: int, fps: int, n_frames: int, background: Background,
) -> VideoTrack | None:
    """One try at a track playing `role`; None when this try does not play it."""
    look = _sample_look(rng, width, height, background)
    r = look.radius
    speed = float(rng.uniform(0.12, 0.4) * min(width, height) / fps)
    heading = float(rng.uniform(0, 2 * math.pi))
    spin = 0.0 if look.kind in _UPRIGHT else float(rng.uniform(-120, 120) / fps)
    turn = float(rng.uniform(-20, 20) / fps) if rng.random() < 0.6 else 0.0
    common = dict(
        id=track_id, kind=look.kind, colour=look.colour, rgb=look.rgb, radius=r, angle0=look.angle,
        spin=spin, aspect=look.aspect, inner=look.inner,
        vx=speed * math.cos(heading), vy=speed * math.sin(heading),
    )
    x0, y0 = float(rng.uniform(r, width - r)), float(rng.uniform(r, height - r))
    if role == "bounce":
        return VideoTrack(x0=x0, y0=y0, bounds=(r, r, width - r, height - r), **common)
    if role == "free":
        return _with_exit(VideoTrack(x0=x0, y0=y0, turn=turn, **common), n_frames, width, height)
    if role == "cross":  # passes close by an earlier object half way through, so one hides part of the other
        other = placed[int(rng.integers(len(placed)))]
        meet = int(rng.integers(n_frames * 3 // 10, n_frames * 7 // 10 + 1))
        target = other.shape_at(meet)
        if target is None or _outside(np.array(target.cx), np.array(target.cy), r, width, height):
            return None
        offset = float(rng.uniform(0.2, 0.7)) * (r + other.radius)
        side = float(rng.uniform(0, 2 * math.pi))
        probe = VideoTrack(x0=0.0, y0=0.0, turn=turn, **common)
        dx, dy = probe.centres(np.array([meet]))
        px, py = target.cx + offset * math.cos(side), target.cy + offset * math.sin(side)
        track = replace(probe, x0=float(px - dx[0]), y0=float(py - dy[0]))
        return _with_exit(track, n_frames, width, height)
    if role == "enter":  # starts just beyond an edge, heading for the middle
        enter = int(rng.integers(1, max(2, n_frames // 2)))
        edge = int(rng.integers(4))
        x0 = (-r - 1.0, width + r + 1.0, x0, x0)[edge]
        y0 = (y0, y0, -r - 1.0, height + r + 1.0)[edge]
        aim = math.atan2(rng.uniform(0.3, 0.7) * height - y0, rng.uniform(0.3, 0.7) * width - x0)
        common.update(vx=speed * math.cos(aim), vy=speed * math.sin(aim))
        track = VideoTrack(x0=x0, y0=y0, enter=enter, turn=turn, **common)
        track = _with_exit(track, n_frames, width, height)
        if track is None:
            return None
        xs, ys = track.centres(np.arange(enter, track.exit or n_frames))
        fully_in = (xs >= r) & (xs <= width - r) & (ys >= r) & (ys <= height - r)
        return track if fully_in.any() else None
    if role == "leave":  # fully in view at first, gone (for a few frames at least) by the end
        track = _with_exit(VideoTrack(x0=x0, y0=y0, turn=turn, **common), n_frames, width, height)
        return track if track is not None and track.exit is not None and track.exit < n_frames - 2 else None
    raise ValueError(f"unknown role {role!r}")


def _check_timing(seconds: float, fps: float) -> None:
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be in [{MIN_SECONDS}, {MAX_SECONDS}], got {seconds}")
    if int(fps) != fps or not 1 <= fps <= MAX_FPS:
        raise ValueError(f"fps must be a whole number in [1, {MAX_FPS}], got {fps}")


def sample_video(
    seed: int,
    width: int = 320,
    height: int = 240,
    fps: int = 10,
    seconds: float = 3.0,
    n_objects: int | None = None,
    max_objects: int = 6,
) -> VideoScene:
    """A random video layout from a seed: one background, one renderer, objects that move and cross.

    The first object bounces or flies freely, the second crosses its path half way, the third
    enters mid-video and the fourth leaves; any more play a random role of these. So with four or
    more objects (the default draws 4..max_objects) some object always enters and one leaves.
    Speeds are 12-40% of the shorter side a second; free paths curve by up to 20 degrees a second.
    """
    _check_timing(seconds, fps)
    if width < 32 or height < 32:
        raise ValueError(f"video must be at least 32x32 pixels, got {width}x{height}")
    if max_objects < 0 or (n_objects is not None and not 0 <= n_objects <= max_objects):
        raise ValueError(f"need 0 <= n_objects <= max_objects, got {n_objects} and {max_objects}")
    fps = int(fps)
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * fps))
    background = sample_background(rng)
    renderer = str(rng.choice(list(RENDERERS)))
    if n_objects is None:
        n_objects = int(rng.integers(min(4, max_objects), max_objects + 1))
    tracks: list[VideoTrack] = []
    for i in range(n_objects):
        if i == 0:
            role = str(rng.choice(["bounce", "free"]))
        elif i < 4:
            role = ("cross", "enter", "leave")[i - 1]
        else:
            role = str(rng.choice(["cross", "enter", "leave"]))
        track = None
        for _ in range(50):
            track = _sample_track(rng, role, i, tracks, width, height, fps, n_frames, background)
            if track is not None:
                break
        if track is None:  # no fitting path for the role (a tiny or very short video): bounce instead
            track = _sample_track(rng, "bounce", i, tracks, width, height, fps, n_frames, background)
        tracks.append(track)
    order = rng.permutation(len(tracks))
    return VideoScene(
        width=width, height=height, fps=fps, n_frames=n_frames, tracks=[tracks[i] for i in order],
        background=background, renderer=renderer, seed=seed,
    )


# -- occlusion-heavy clips ------------------------------------------------------------------------------
def _look(
    rng: np.random.Generator, width: int, height: int, background: Background,
    lo: float, hi: float, kind: str | None = None, avoid: tuple[str, ...] = (),
) -> Shape:
    """A shape's kind, colour and size (circumradius lo..hi of the shorter side), standing out from the
    background and in none of the colours in `avoid` when possible."""
    shape = None
    for _ in range(40):
        shape = sample_shape(rng, width, height, kind=kind, min_frac=lo, max_frac=hi)
        if _contrast_ok(shape.rgb, background) and shape.colour not in avoid:
            return shape
    return shape


def _track_from(look: Shape, track_id: int, rng: np.random.Generator, fps: int, **motion) -> VideoTrack:
    upright = look.kind in _UPRIGHT
    return VideoTrack(
        id=track_id, kind=look.kind, colour=look.colour, rgb=look.rgb, radius=look.radius, angle0=look.angle,
        spin=0.0 if upright else float(rng.uniform(-60, 60) / fps), aspect=look.aspect, inner=look.inner, **motion,
    )


def _inside(track: VideoTrack, frames: np.ndarray, width: int, height: int) -> np.ndarray:
    x, y = track.centres(frames)
    r = track.radius
    return (x >= r) & (x <= width - r) & (y >= r) & (y <= height - r)


def _screen(rng, track_id, width, height, fps, background, avoid) -> VideoTrack:
    """A large, slow shape in front of the others, drifting and bouncing well inside the picture."""
    look = _look(rng, width, height, background, 0.17, 0.22, avoid=avoid)
    r = look.radius
    speed = float(rng.uniform(0.0, 0.06) * min(width, height) / fps)
    heading = float(rng.uniform(0, 2 * math.pi))
    x0 = float(rng.uniform(0.25, 0.75) * width)
    y0 = float(rng.uniform(0.3, 0.7) * height)
    return _track_from(look, track_id, rng, fps, x0=x0, y0=y0, vx=speed * math.cos(heading),
                       vy=speed * math.sin(heading), bounds=(r, r, width - r, height - r))


def _passer(rng, track_id, screen, width, height, fps, n_frames, background, kind=None) -> VideoTrack | None:
    """A smaller shape on a straight path through `screen`'s centre at a random middle frame, drawn behind
    it: hidden for a while, in the open for at least 4 frames before and after."""
    limit = min(0.12, 0.7 * screen.radius / min(width, height))
    look = _look(rng, width, height, background, 0.06, limit, kind=kind, avoid=(screen.colour,))
    speed = float(rng.uniform(0.18, 0.35) * min(width, height) / fps)
    heading = float(rng.uniform(0, 2 * math.pi))
    meet = int(rng.integers(n_frames * 3 // 10, n_frames * 7 // 10 + 1))
    sx, sy = screen.centres(np.array([meet]))
    off = float(rng.uniform(-0.25, 0.25)) * screen.radius
    px, py = sx[0] - off * math.sin(heading), sy[0] + off * math.cos(heading)
    vx, vy = speed * math.cos(heading), speed * math.sin(heading)
    track = _track_from(look, track_id, rng, fps, x0=px - vx * meet, y0=py - vy * meet, vx=vx, vy=vy)
    track = _with_exit(track, n_frames, width, height)
    if track is None:
        return None
    inside = _inside(track, np.arange(n_frames), width, height)
    if inside[:meet].sum() < 4 or inside[meet:].sum() < 4:
        return None
    return track


def _returner(rng, track_id, width, height, fps, n_frames, background) -> VideoTrack | None:
    """A shape that leaves through one edge and comes back: it bounces off a wall beyond the picture."""
    look = _look(rng, width, height, background, 0.07, 0.13)
    r = look.radius
    speed = float(rng.uniform(0.2, 0.35) * min(width, height) / fps)
    along = speed * float(rng.uniform(0.85, 1.0))
    across = math.sqrt(max(0.0, speed**2 - along**2)) * float(rng.choice([-1, 1]))
    margin = r + float(rng.uniform(0.6, 1.6)) * r  # how far beyond the edge the centre goes
    leave = int(rng.integers(n_frames // 5, n_frames // 2))  # frames until it reaches the edge
    horizontal = rng.random() < 0.6
    side = int(rng.integers(2))  # 0: left/top, 1: right/bottom
    extent = width if horizontal else height
    start = r + along * leave if side == 0 else extent - r - along * leave
    if not r <= start <= extent - r:
        return None
    lo, hi = (-margin, extent - r) if side == 0 else (r, extent + margin)
    v = -along if side == 0 else along
    other = float(rng.uniform(0.3, 0.7) * (height if horizontal else width))
    if horizontal:
        motion = dict(x0=start, y0=other, vx=v, vy=across, bounds=(lo, r, hi, height - r))
    else:
        motion = dict(x0=other, y0=start, vx=across, vy=v, bounds=(r, lo, width - r, hi))
    track = _track_from(look, track_id, rng, fps, **motion)
    inside = _inside(track, np.arange(n_frames), width, height)
    gone = _outside(*track.centres(np.arange(n_frames)), r, width, height)
    back = np.flatnonzero(gone)
    if not len(back) or not inside[back[-1]:].any():
        return None
    return track


def _stacked(rng, track_id, anchor, width, height, fps, n_frames, background) -> tuple[VideoTrack, dict] | None:
    """A shape partly under `anchor` that moves with it (same velocity, bouncing at the same times; 15-50%
    of it covered at the start, middle and end), and the anchor's new start and bounds (narrowed so both
    stay in the picture)."""
    look = _look(rng, width, height, background, 0.07, 0.12, avoid=(anchor.colour,))
    r = look.radius
    gap = float(rng.uniform(0.6, 0.85)) * (r + anchor.radius)
    angle = float(rng.uniform(0, 2 * math.pi))
    dx, dy = gap * math.cos(angle), gap * math.sin(angle)
    xmin, ymin, xmax, ymax = anchor.bounds
    xmin, xmax = max(xmin, r - dx), min(xmax, width - r - dx)
    ymin, ymax = max(ymin, r - dy), min(ymax, height - r - dy)
    if xmin >= xmax or ymin >= ymax:
        return None
    x0, y0 = float(np.clip(anchor.x0, xmin, xmax)), float(np.clip(anchor.y0, ymin, ymax))
    anchor_motion = dict(x0=x0, y0=y0, bounds=(xmin, ymin, xmax, ymax))
    track = _track_from(look, track_id, rng, fps, x0=x0 + dx, y0=y0 + dy, vx=anchor.vx, vy=anchor.vy,
                        bounds=(xmin + dx, ymin + dy, xmax + dx, ymax + dy))
    moved = replace(anchor, **anchor_motion)
    for t in (0, n_frames // 2, n_frames - 1):
        pair = [track.shape_at(t), moved.shape_at(t)]
        whole = visible_masks(pair[:1], height, width)[1]
        shown = visible_masks(pair, height, width)[1]
        if len(whole) == 0 or len(shown) < 2 or not 0.5 <= shown[0].sum() / whole[0].sum() <= 0.85:
            return None
    return track, anchor_motion


def _crosser(rng, track_id, other, width, height, fps, n_frames, background, kind) -> VideoTrack | None:
    """A shape of `kind` whose path crosses `other`'s in the open half way through (one partly hides the other)."""
    look = _look(rng, width, height, background, 0.07, 0.13, kind=kind, avoid=(other.colour,))
    speed = float(rng.uniform(0.15, 0.35) * min(width, height) / fps)
    heading = float(rng.uniform(0, 2 * math.pi))
    meet = int(rng.integers(n_frames * 3 // 10, n_frames * 7 // 10 + 1))
    target = other.shape_at(meet)
    if target is None or not _inside(other, np.array([meet]), width, height)[0]:
        return None
    offset = float(rng.uniform(0.2, 0.6)) * (look.radius + other.radius)
    side = float(rng.uniform(0, 2 * math.pi))
    px, py = target.cx + offset * math.cos(side), target.cy + offset * math.sin(side)
    vx, vy = speed * math.cos(heading), speed * math.sin(heading)
    track = _track_from(look, track_id, rng, fps, x0=px - vx * meet, y0=py - vy * meet, vx=vx, vy=vy)
    track = _with_exit(track, n_frames, width, height)
    if track is None or _inside(track, np.arange(n_frames), width, height).sum() < 8:
        return None
    return track


def _same_colour_touch(tracks: list[VideoTrack], n_frames: int) -> bool:
    """Whether two shapes of one colour ever touch (with no visible boundary they could not be told apart)."""
    frames = np.arange(n_frames)
    for i, a in enumerate(tracks):
        for b in tracks[i + 1:]:
            if a.colour == b.colour:
                (ax, ay), (bx, by) = a.centres(frames), b.centres(frames)
                if (np.hypot(ax - bx, ay - by) <= 1.08 * (a.radius + b.radius)).any():
                    return True
    return False


def sample_occlusion_video(
    seed: int, width: int = 256, height: int = 192, fps: int = 10, seconds: float = 4.0
) -> VideoScene:
    """An occlusion-heavy layout: every object's identity has to be carried through some gap.

    In front, one or two large slow "screens"; behind them, one or two smaller shapes pass straight
    through a screen's centre (hidden for a while, in the open before and after); another shape of a
    passer's kind crosses that passer's path in the open, so text tracking of that kind must keep two
    look-alikes apart; one shape sits partly under a screen and moves with it (stacked); one leaves
    through an edge and comes back (it bounces off a wall beyond the picture). Ids never change.
    """
    _check_timing(seconds, fps)
    if width < 96 or height < 96:
        raise ValueError(f"occlusion clips need at least 96x96 pixels, got {width}x{height}")
    fps = int(fps)
    rng = np.random.default_rng(seed)
    n_frames = int(round(seconds * fps))
    background = sample_background(rng)
    renderer = str(rng.choice(list(RENDERERS)))
    for _ in range(100):
        tracks = _occlusion_tracks(rng, width, height, fps, n_frames, background)
        if tracks is not None and not _same_colour_touch(tracks, n_frames):
            break
    else:
        raise RuntimeError(f"no occlusion layout found for seed {seed} at {width}x{height}")
    return VideoScene(width=width, height=height, fps=fps, n_frames=n_frames, tracks=tracks,
                      background=background, renderer=renderer, seed=seed)


def _first(make, *args, tries: int = 30):
    """The first of `tries` calls `make(*args)` that gives a result (a role's path found), or None."""
    for _ in range(tries):
        made = make(*args)
        if made is not None:
            return made
    return None


def _occlusion_tracks(rng, width, height, fps, n_frames, background) -> list[VideoTrack] | None:
    """One try at the layout of `sample_occlusion_video`, back to front; None when a role found no path."""
    screens = [_screen(rng, 0, width, height, fps, background, ())]
    if rng.random() < 0.5:
        second = _screen(rng, 1, width, height, fps, background, (screens[0].colour,))
        far = abs(second.x0 - screens[0].x0) > screens[0].radius + second.radius
        if far:
            screens.append(second)
    next_id = len(screens)
    made = _first(_stacked, rng, next_id, screens[-1], width, height, fps, n_frames, background)
    if made is None:
        return None
    stacked, anchor_motion = made
    screens[-1] = replace(screens[-1], **anchor_motion)
    next_id += 1
    passers = []
    for screen in screens[: 1 + int(rng.random() < 0.5)]:
        passer = _first(_passer, rng, next_id, screen, width, height, fps, n_frames, background)
        if passer is None:
            return None
        passers.append(passer)
        next_id += 1
    kind = passers[0].kind
    crosser = _first(_crosser, rng, next_id, passers[0], width, height, fps, n_frames, background, kind)
    returner = _first(_returner, rng, next_id + 1, width, height, fps, n_frames, background)
    if crosser is None or returner is None:
        return None
    middle = [crosser, returner]
    middle = [middle[i] for i in rng.permutation(len(middle))]
    return [*passers, stacked, *middle, *screens]


def render_video(video: VideoScene) -> RenderedVideo:
    """Draws every frame with exact visible masks and the track id of each mask.

    Each object is drawn on its own with a generator seeded by (video seed, id), so its drawing
    style (outline, anti-aliasing) stays the same in every frame instead of depending on which
    other objects happen to be visible.
    """
    if video.renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {video.renderer!r}; choose from {sorted(RENDERERS)}")
    h, w = video.height, video.width
    draw = RENDERERS[video.renderer]
    background = draw_background(video.background, h, w)
    frames = np.empty((video.n_frames, h, w, 3), np.uint8)
    all_ids, all_masks, all_boxes = [], [], []
    for t in range(video.n_frames):
        ids, shapes = video.shapes_at(t)
        kept, masks = visible_masks(shapes, h, w)
        position = {id(s): i for i, s in enumerate(shapes)}  # visible_masks returns the very same objects
        kept_ids = [ids[position[id(s)]] for s in kept]
        img = background
        for track_id, shape in zip(kept_ids, kept, strict=True):
            img = draw(img, [shape], np.random.default_rng([video.seed, track_id]))
        frames[t] = img
        all_ids.append(np.array(kept_ids, np.int64))
        all_masks.append(masks)
        all_boxes.append(boxes_of(masks))
    return RenderedVideo(frames=frames, ids=all_ids, masks=all_masks, boxes=all_boxes, video=video)
