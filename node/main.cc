// meshd: a meshwork node with the built-in handlers.
#include "node/runtime/node_main.h"

int main(int argc, char** argv) { return mesh::run_meshd(argc, argv, mesh::HandlerRegistry{}); }
