#!/usr/bin/env node
import "../dist/src/cli/dlogd.js";
