// Cairo image surfaces and PNG I/O, plus cairo-ft so the screen loads DejaVu Sans from its file
// (no dependence on fontconfig's configuration, which differs between machines).
#include <cairo.h>
#include <cairo-ft.h>
#include <ft2build.h>
#include FT_FREETYPE_H
