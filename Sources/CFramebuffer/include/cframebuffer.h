// The Linux framebuffer's geometry, read with FBIOGET_VSCREENINFO / FBIOGET_FSCREENINFO.
// A C shim because struct fb_fix_screeninfo holds `unsigned long` fields whose size differs
// between 32- and 64-bit ARM; Swift code stays architecture-neutral.
#ifndef CFRAMEBUFFER_H
#define CFRAMEBUFFER_H
#include <stdint.h>

typedef struct {
    uint32_t width, height;            // visible resolution (xres, yres)
    uint32_t virtual_width, virtual_height;
    uint32_t xoffset, yoffset;         // panning offset of the visible area
    uint32_t bits_per_pixel;
    uint32_t red_offset, red_length;
    uint32_t green_offset, green_length;
    uint32_t blue_offset, blue_length;
    uint32_t line_length;              // bytes per line, may exceed width * bytes per pixel
    uint32_t smem_len;                 // size of the framebuffer memory
    uint32_t visual;                   // FB_VISUAL_* (2 = truecolor)
    char id[17];
} cfb_geometry;

/// Fills `out` from an open framebuffer descriptor. Returns 0, or -1 with errno set
/// (ENOTTY when `fd` is not a framebuffer).
int cfb_get_geometry(int fd, cfb_geometry *out);

/// FB_VISUAL_TRUECOLOR, for comparison in Swift.
uint32_t cfb_visual_truecolor(void);
#endif
