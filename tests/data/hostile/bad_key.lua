-- A definition with a key that is neither a string nor an integer.
return {states = {[true] = "yes"}}
