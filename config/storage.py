"""The production storage for static files."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    """Whitenoise's compressed manifest storage, which also rewrites the relative imports
    between the gallery's ES modules (static/gallery/js) to the hashed file names.

    Without that, main.<hash>.js would load "./dom.js" by its plain name: cached apart from
    the page's other scripts across deploys, and loaded a second time, as another module with
    its own state, should anything reach it by its hashed name. Django's own switch for this
    (support_js_module_import_aggregation) applies to every collected .js file, and fails on
    the django_htmx extensions' bare "htmx" import; this covers the gallery's modules only.
    """

    patterns = (
        *CompressedManifestStaticFilesStorage.patterns,
        (
            "gallery/js/*.js",
            # `from "./x.js"` (import and export) and `import "./x.js"`, as the modules write
            # them: double quotes, paths relative to the importing file.
            (
                (
                    r"""(?P<matched>\b(?P<keyword>from|import)\s*"(?P<url>\.{1,2}/[^"]+)")""",
                    '%(keyword)s "%(url)s"',
                ),
            ),
        ),
    )
