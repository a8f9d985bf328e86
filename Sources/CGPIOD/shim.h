// libgpiod 1.6 (Debian 12's libgpiod-dev): chip/line requests and edge events.
#include <gpiod.h>
