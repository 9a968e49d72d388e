#!/usr/bin/env node
// `mcp-proxy` in a checkout (`npx mcp-proxy …`): `poke proxy` under mcp-proxy's name (see poke.mjs).
import "./poke.mjs";
