"""The bundled offline stand-in for the SDXL endpoint: same protocol, a drawn picture."""
