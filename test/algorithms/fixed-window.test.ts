import t from 'tap'
import { fixedWindowAlgorithm } from '../../algorithms/index.js'
import { testClockBehind, fixedWindowFits, alignedWindowsAtMostL, testWindowProperties } from '../support/algorithms.js'

testWindowProperties(t, fixedWindowAlgorithm, fixedWindowFits, alignedWindowsAtMostL)
testClockBehind(t, fixedWindowAlgorithm)
