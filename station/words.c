/* Digests as words that two people can read aloud and compare (the review
 * screen, ceremony transcripts): one word per byte from a fixed list of 256
 * short, distinct English words. */
#include "station/words.h"

#include <stdio.h>
#include <string.h>

static const char *const words[256] = {
    "acid",    "acorn",	  "actor",   "adobe",	"agent",    "alarm",
    "album",   "alien",	  "alpha",   "amber",	"angle",    "ankle",
    "apple",   "april",	  "arena",   "argue",	"armor",    "arrow",
    "aspen",   "atlas",	  "attic",   "audio",	"autumn",   "avocado",
    "badge",   "bagel",	  "baker",   "bamboo",	"banjo",    "barrel",
    "basil",   "beach",	  "beacon",  "beaver",	"bench",    "berry",
    "bison",   "blade",	  "blanket", "blossom", "boat",	    "bonus",
    "border",  "bottle",  "bracket", "brave",	"bread",    "brick",
    "bridge",  "bronze",  "brush",   "bubble",	"bucket",   "buffalo",
    "bugle",   "cabin",	  "cactus",  "camel",	"candle",   "canoe",
    "canyon",  "carbon",  "cargo",   "carpet",	"castle",   "cedar",
    "cello",   "chalk",	  "cherry",  "chess",	"chimney",  "cider",
    "cinema",  "circus",  "citrus",  "clover",	"cobalt",   "cocoa",
    "comet",   "copper",  "coral",   "cotton",	"cowboy",   "crane",
    "crater",  "crayon",  "cricket", "crystal", "cupboard", "cycle",
    "dancer",  "delta",	  "desert",  "diamond", "dinner",   "dolphin",
    "domino",  "donkey",  "dragon",  "drum",	"eagle",    "easel",
    "echo",    "eclipse", "elbow",   "ember",	"engine",   "equator",
    "falcon",  "feather", "fennel",  "ferry",	"fiddle",   "finch",
    "flame",   "flute",	  "forest",  "fossil",	"fountain", "fox",
    "galaxy",  "garden",  "garlic",  "gazelle", "geyser",   "ginger",
    "glacier", "globe",	  "goose",   "granite", "grape",    "gravel",
    "guitar",  "hammer",  "harbor",  "harp",	"hazel",    "helmet",
    "hermit",  "honey",	  "hornet",  "iceberg", "igloo",    "island",
    "ivory",   "jacket",  "jaguar",  "jasmine", "jelly",    "jigsaw",
    "jungle",  "kayak",	  "kernel",  "kettle",	"kiwi",	    "koala",
    "ladder",  "lagoon",  "lantern", "lava",	"lemon",    "lentil",
    "lilac",   "lobster", "locket",  "lotus",	"magnet",   "mango",
    "maple",   "marble",  "meadow",  "melon",	"meteor",   "mirror",
    "mitten",  "monsoon", "mosaic",  "muffin",	"nectar",   "needle",
    "nickel",  "noodle",  "nutmeg",  "oasis",	"ocean",    "octopus",
    "olive",   "onion",	  "opal",    "orbit",	"orchid",   "otter",
    "oyster",  "paddle",  "palace",  "panda",	"papaya",   "parrot",
    "pebble",  "pepper",  "piano",   "pickle",	"pigeon",   "pilot",
    "pine",    "planet",  "plaza",   "pocket",	"pollen",   "pony",
    "poppy",   "prism",	  "pumpkin", "quartz",	"quill",    "rabbit",
    "radar",   "raft",	  "raven",   "ribbon",	"river",    "robin",
    "rocket",  "saddle",  "salmon",  "satin",	"sauce",    "scarf",
    "shadow",  "shelter", "silver",  "sketch",	"sparrow",  "spider",
    "spruce",  "squash",  "summit",  "sunset",	"swan",	    "tablet",
    "tango",   "tiger",	  "timber",  "tomato",	"topaz",    "tractor",
    "trumpet", "tulip",	  "tunnel",  "turtle",	"umbrella", "velvet",
    "violin",  "volcano", "waffle",  "walnut",
};

const char *
words_get(unsigned char b)
{
	return words[b];
}

char *
words_from_digest(const unsigned char *d, size_t nbytes, char *out,
		  size_t outlen)
{
	size_t i, o = 0;
	int w;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	for (i = 0; i < nbytes; i++) {
		w = snprintf(out + o, outlen - o, "%s%s", i > 0 ? "-" : "",
			     words[d[i]]);
		if (w < 0 || (size_t)w >= outlen - o)
			break;
		o += (size_t)w;
	}
	return out;
}
