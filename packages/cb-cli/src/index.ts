export { CliError, type CliIo, EXIT_CODES, parseDuration, runCli, USAGE } from './run-cli.js';
