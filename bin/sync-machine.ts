#!/usr/bin/env node
import { runCli } from '../lib/cli/run';

runCli();
