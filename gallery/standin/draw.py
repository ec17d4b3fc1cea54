"""A deterministic landscape drawn from a prompt: the stand-in's "model".

The same prompt always gives the same picture; a few words steer it (night, sunset, sea,
forest, snow, desert...), the rest of the prompt picks colours and shapes through its hash.
It is meant to look pleasant in a gallery, not to resemble the prompt.
"""

import hashlib
import io
import math
import random

from PIL import Image, ImageDraw, ImageFilter

SIZE = 1024

# (sky top, sky horizon, sun, far hills, near hills)
PALETTES = {
    "night": ("#0b1026", "#2b3a67", "#f4f1de", "#2e3a5c", "#0a0f1f"),
    "sunset": ("#2d1b4e", "#ff8c5a", "#ffd27f", "#8a4f7d", "#2b1633"),
    "dawn": ("#5a7bb5", "#f7c59f", "#fff1c1", "#7f8fa6", "#2f3e46"),
    "sea": ("#1d4e89", "#a8dadc", "#fefae0", "#457b9d", "#1d3557"),
    "forest": ("#355c4a", "#cfe1b9", "#fbf8cc", "#4f772d", "#132a13"),
    "snow": ("#8ecae6", "#f1faee", "#ffffff", "#a8b8c8", "#4a5a6a"),
    "desert": ("#e07a5f", "#f2cc8f", "#fff3b0", "#c9844a", "#6b3e26"),
    "storm": ("#2b2d42", "#8d99ae", "#edf2f4", "#4a4e69", "#22223b"),
}
KEYWORDS = {
    "night": "night",
    "moon": "night",
    "star": "night",
    "space": "night",
    "galaxy": "night",
    "sunset": "sunset",
    "dusk": "sunset",
    "evening": "sunset",
    "fire": "sunset",
    "dawn": "dawn",
    "morning": "dawn",
    "sunrise": "dawn",
    "sea": "sea",
    "ocean": "sea",
    "beach": "sea",
    "lake": "sea",
    "water": "sea",
    "river": "sea",
    "forest": "forest",
    "tree": "forest",
    "jungle": "forest",
    "garden": "forest",
    "snow": "snow",
    "winter": "snow",
    "ice": "snow",
    "mountain": "snow",
    "desert": "desert",
    "sand": "desert",
    "dune": "desert",
    "mars": "desert",
    "storm": "storm",
    "rain": "storm",
    "fog": "storm",
    "city": "storm",
}


def render(prompt: str, negative_prompt: str = "", quality: int = 90) -> bytes:
    """The JPEG bytes of the picture for this prompt."""
    seed = hashlib.sha256(f"{prompt}\x00{negative_prompt}".encode()).digest()
    rng = random.Random(seed)
    palette = _palette(prompt, rng)
    sky_top, horizon, sun, far, near = (_rgb(c) for c in palette)

    img = _vertical_gradient(sky_top, horizon, SIZE)
    horizon_y = rng.randint(int(SIZE * 0.45), int(SIZE * 0.62))

    # Sun or moon, with a soft glow drawn small and scaled up (cheap blur).
    sx, sy = rng.randint(180, SIZE - 180), rng.randint(150, horizon_y - 80)
    radius = rng.randint(50, 110)
    glow = Image.new("L", (SIZE // 4, SIZE // 4), 0)
    ImageDraw.Draw(glow).ellipse(
        _circle(sx // 4, sy // 4, radius // 4 * 2.6), fill=rng.randint(90, 150)
    )
    glow = glow.filter(ImageFilter.GaussianBlur(12)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    img.paste(Image.new("RGB", (SIZE, SIZE), sun), mask=glow)
    ImageDraw.Draw(img).ellipse(_circle(sx, sy, radius), fill=sun)

    if palette is PALETTES["night"]:
        draw = ImageDraw.Draw(img)
        for _ in range(220):
            x, y = rng.randrange(SIZE), rng.randrange(horizon_y)
            r = rng.choice((1, 1, 1, 2))
            draw.ellipse(_circle(x, y, r), fill=_mix(sun, sky_top, rng.random() * 0.5))

    # Ridges from far to near: lighter and hazier far away (aerial perspective).
    layers = rng.randint(4, 6)
    for i in range(layers):
        t = i / (layers - 1)
        colour = _mix(_mix(far, horizon, 0.35), near, t)
        base = horizon_y + int((SIZE - horizon_y) * (0.05 + 0.75 * t))
        amplitude = rng.randint(30, 110) * (1.2 - t * 0.6)
        waves = [
            (rng.uniform(0.5, 3.5), rng.uniform(0, math.tau), rng.uniform(0.3, 1.0))
            for _ in range(3)
        ]
        points = [(0, SIZE)]
        for x in range(0, SIZE + 16, 16):
            u = x / SIZE * math.tau
            h = sum(a * math.sin(f * u + p) for f, p, a in waves) / 2.2
            points.append((x, base - amplitude * (0.6 + h)))
        points.append((SIZE, SIZE))
        ImageDraw.Draw(img).polygon(points, fill=colour)

    # Film grain: gives the JPEG the texture (and the weight) of a photographic image.
    # Seeded, unlike Image.effect_noise, so the picture stays deterministic.
    grain = Image.frombytes("L", (SIZE, SIZE), rng.randbytes(SIZE * SIZE)).convert("RGB")
    img = Image.blend(img, grain, 0.05)

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def _palette(prompt: str, rng: random.Random) -> tuple[str, ...]:
    for word in prompt.lower().replace(",", " ").split():
        for key, name in KEYWORDS.items():
            if word.startswith(key):
                return PALETTES[name]
    return rng.choice(list(PALETTES.values()))


def _vertical_gradient(top: tuple, bottom: tuple, size: int) -> Image.Image:
    column = Image.new("RGB", (1, 256))
    column.putdata([_mix(top, bottom, (y / 255) ** 1.4) for y in range(256)])
    return column.resize((size, size), Image.Resampling.BICUBIC)


def _circle(x: float, y: float, r: float) -> tuple[float, float, float, float]:
    return (x - r, y - r, x + r, y + r)


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def _mix(a: tuple, b: tuple, t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
