-- Backtracking without bound inside one C call.
return string.find(string.rep("a", 1e5), ".-.-.-.-b")
