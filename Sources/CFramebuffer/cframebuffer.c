#include "cframebuffer.h"
#include <linux/fb.h>
#include <string.h>
#include <sys/ioctl.h>

int cfb_get_geometry(int fd, cfb_geometry *out) {
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    memset(&var, 0, sizeof var);
    memset(&fix, 0, sizeof fix);
    if (ioctl(fd, FBIOGET_VSCREENINFO, &var) != 0) return -1;
    if (ioctl(fd, FBIOGET_FSCREENINFO, &fix) != 0) return -1;
    memset(out, 0, sizeof *out);
    out->width = var.xres;
    out->height = var.yres;
    out->virtual_width = var.xres_virtual;
    out->virtual_height = var.yres_virtual;
    out->xoffset = var.xoffset;
    out->yoffset = var.yoffset;
    out->bits_per_pixel = var.bits_per_pixel;
    out->red_offset = var.red.offset;
    out->red_length = var.red.length;
    out->green_offset = var.green.offset;
    out->green_length = var.green.length;
    out->blue_offset = var.blue.offset;
    out->blue_length = var.blue.length;
    out->line_length = fix.line_length;
    out->smem_len = fix.smem_len;
    out->visual = fix.visual;
    memcpy(out->id, fix.id, sizeof fix.id);
    out->id[16] = 0;
    return 0;
}

uint32_t cfb_visual_truecolor(void) { return FB_VISUAL_TRUECOLOR; }
