/* `ventra-conform coverage`: the map from every requirement of spec/ to the
 * vectors and live cases that test it, and the gate over the MUSTs. */
#ifndef VT_CONFORM_COVERAGE_H
#define VT_CONFORM_COVERAGE_H

/* |argc| and |argv| are the arguments after "coverage". Returns the exit
 * status: 0, 1 when a citation names an unknown requirement, no vector
 * file was found, or (with --gate) a MUST is untested; 2 on a usage error. */
int vt_conform_coverage(int argc, char **argv);

#endif
