process.stderr.write("dlog: the CLI arrives with the TypeScript client (issue 4)\n");
process.exit(2);
