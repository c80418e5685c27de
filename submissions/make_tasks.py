"""Write the example hand-ins of the localization and sequence built-ins: the notebooks, and
every predictions.csv from the built-in synthetic stand-in's held-out split.

    python submissions/make_tasks.py                  # notebooks and predictions.csv files
    python submissions/make_tasks.py --notebooks-only

ece60146-hw5-2023 (priya, quinn), ece60146-hw8 (ravi, sara), ece661-hw3-rnn (tom, uma): see
submissions/README.md. The Colab exports (`hw5_priya.py`, `hw8_ravi.py`, `labrnn.py`) are
committed as they are; this script writes quinn's, sara's and tom's notebooks with
make_notebooks.py's helpers (byte-for-byte reproducible) and the six predictions.csv files:
the held-out labels with a seeded fraction replaced by wrong ones, and for HW5 the held-out
boxes plus seeded noise, clipped to 0..1, 4 decimals. Rerun it whenever the synthetic
stand-ins change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))       # make_notebooks.py and make_predictions.py beside this file

from make_notebooks import COLAB, code, md, write
from make_predictions import predictions_file

# --- ECE 60146 HW5 (2023): quinn's notebook --------------------------------------------------

def quinn() -> list:
    """A background class in the class head, two ResNet blocks and heads without BatchNorm
    (48 parameter tensors, under the 50 asked for), boxes kept in COCO's x, y, w, h."""
    return [
        md("""
            # ECE 60146 HW5: Object Localization
            Quinn O'Connell. COCO bus / cat / pizza, one object per image, 256 x 256.
        """),
        code("!pip install pycocotools", 1, out="""
            Requirement already satisfied: pycocotools in /usr/local/lib/python3.10/dist-packages (2.0.7)
        """),
        code("""
            from google.colab import drive
            drive.mount('/content/drive')
            %cd /content/drive/MyDrive/ECE60146/HW5
        """, 2, out="""
            Mounted at /content/drive
            /content/drive/MyDrive/ECE60146/HW5
        """),
        code("""
            import os
            import numpy as np
            import matplotlib.pyplot as plt
            import torch
            import torch.nn as nn
            import torch.nn.functional as F
            import torchvision.transforms as tvt
            from torch.utils.data import Dataset, DataLoader
            from PIL import Image
            from pycocotools.coco import COCO
            import skimage.io as io
        """, 3),
        md("## Task 1: the dataset"),
        code("""
            classes = ['bus', 'cat', 'pizza']
            coco = COCO('annotations/instances_train2014.json')
            catIds = coco.getCatIds(catNms=classes)

            class MyCOCODataset(Dataset):
                def __init__(self, coco, img_dir, min_area=40000):
                    self.coco = coco
                    self.img_dir = img_dir
                    self.items = []
                    for label, cat_id in enumerate(catIds):
                        for img_id in coco.getImgIds(catIds=[cat_id]):
                            anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id, catIds=catIds,
                                                                iscrowd=False))
                            big = [a for a in anns if a['area'] > min_area]
                            if len(big) == 1:
                                self.items.append((img_id, label + 1, big[0]['bbox']))  # 0 = background
                    self.tf = tvt.Compose([tvt.Resize((256, 256)), tvt.ToTensor()])

                def __len__(self):
                    return len(self.items)

                def __getitem__(self, idx):
                    img_id, label, (x, y, w, h) = self.items[idx]
                    info = self.coco.loadImgs(img_id)[0]
                    img = Image.open(os.path.join(self.img_dir, info['file_name'])).convert('RGB')
                    W, H = info['width'], info['height']
                    bbox = torch.tensor([x / W, y / H, w / W, h / H])   # scaled to 0..1
                    return self.tf(img), label, bbox

            train_data = MyCOCODataset(coco, 'train2014')
            train_loader = DataLoader(train_data, batch_size=16, shuffle=True)
            print(len(train_data))
        """, 4, out="3951\n"),
        md("## Task 2: the network"),
        code("""
            class ResBlock(nn.Module):
                def __init__(self, ch):
                    super().__init__()
                    self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
                    self.bn1 = nn.BatchNorm2d(ch)
                    self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)
                    self.bn2 = nn.BatchNorm2d(ch)

                def forward(self, x):
                    out = F.relu(self.bn1(self.conv1(x)))
                    out = self.bn2(self.conv2(out))
                    return F.relu(out + x)


            class Net(nn.Module):
                def __init__(self, input_nc, ngf=8, n_blocks=2):
                    super(Net, self).__init__()
                    layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7),
                              nn.BatchNorm2d(ngf), nn.ReLU(True)]
                    for i in range(4):
                        mult = 2 ** i
                        layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1),
                                   nn.BatchNorm2d(ngf * mult * 2), nn.ReLU(True)]
                    for i in range(n_blocks):
                        layers += [ResBlock(ngf * 16)]
                    self.model = nn.Sequential(*layers)
                    # 3 classes + background
                    self.class_head = nn.Sequential(
                        nn.Conv2d(ngf * 16, 64, 3, padding=1), nn.ReLU(True),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(64, 64), nn.ReLU(True), nn.Linear(64, 4))
                    self.bbox_head = nn.Sequential(
                        nn.Conv2d(ngf * 16, 64, 3, padding=1), nn.ReLU(True),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(64, 64), nn.ReLU(True), nn.Linear(64, 4), nn.Sigmoid())

                def forward(self, x):
                    ft = self.model(x)
                    return self.class_head(ft), self.bbox_head(ft)
        """, 5),
        code("""
            net = Net(input_nc=3)
            print(len(list(net.parameters())))
        """, 6, out="48\n"),
        md("""
            ### TODO (from the handout)
            Check that your network has at least 50 learnable layers.
        """),
        code("# your code here", None),
        md("## Task 3: training (CE + MSE)"),
        code("""
            device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
            net = net.to(device)
            criterion_cls = nn.CrossEntropyLoss()
            criterion_box = nn.MSELoss()
            optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
            epochs = 10
            losses = []
            for epoch in range(epochs):
                running = 0.0
                for i, (images, labels, boxes) in enumerate(train_loader):
                    images, labels, boxes = images.to(device), labels.to(device), boxes.to(device)
                    optimizer.zero_grad()
                    cls, bbox = net(images)
                    loss = criterion_cls(cls, labels) + criterion_box(bbox, boxes)
                    loss.backward()
                    optimizer.step()
                    running += loss.item()
                losses.append(running / len(train_loader))
                print(f'epoch {epoch + 1}: loss {losses[-1]:.4f}')
            torch.save(net.state_dict(), 'hw5_net.pth')
        """, 8, out="""
            epoch 1: loss 1.1572
            epoch 2: loss 0.9804
            epoch 3: loss 0.9011
            epoch 4: loss 0.8467
            epoch 5: loss 0.8032
            epoch 6: loss 0.7710
            epoch 7: loss 0.7391
            epoch 8: loss 0.7125
            epoch 9: loss 0.6904
            epoch 10: loss 0.6652
        """),
        code("""
            plt.plot(losses)
            plt.xlabel('epoch')
            plt.ylabel('CE + MSE')
            plt.show()
        """, 9),
        md("## Predictions for the held-out images"),
        code("""
            test_images = np.load('test_images.npz')['images']
            net.eval()
            rows = ['Id,Label,x1,y1,x2,y2']
            with torch.no_grad():
                for i, img in enumerate(test_images):
                    x = tvt.ToTensor()(img).unsqueeze(0).to(device)
                    cls, bbox = net(x)
                    label = cls[0, 1:].argmax().item()      # skip the background class
                    x1, y1, x2, y2 = bbox[0].tolist()
                    rows.append(f'{i},{label},{x1:.4f},{y1:.4f},{x2:.4f},{y2:.4f}')
            with open('predictions.csv', 'w') as f:
                f.write('\\n'.join(rows) + '\\n')
        """, 10),
    ]


# --- ECE 60146 HW8: sara's notebook -----------------------------------------------------------

def sara() -> list:
    """forward(self, x) with its own zero hidden state, returning only the log-probabilities:
    the course's loop calls net(x, h) and gets (out, h) back."""
    return [
        md("""
            # HW8: Sentiment analysis with GRUs
            Sara Lindqvist, ECE 60146
        """),
        code("!pip install gensim", 1, out="""
            Collecting gensim
              Downloading gensim-4.3.2-cp310-cp310-manylinux_2_17_x86_64.whl (26.6 MB)
            Successfully installed gensim-4.3.2
        """),
        code("""
            from google.colab import drive
            drive.mount('/content/drive')
            !tar -xzf /content/drive/MyDrive/DLStudio-2.3.0/Examples/text_datasets.tar.gz -C /content
        """, 2, out="Mounted at /content/drive\n"),
        code("""
            import gzip
            import pickle
            import random
            import numpy as np
            import torch
            import torch.nn as nn
            from torch.utils.data import Dataset, DataLoader
            import gensim.downloader as gen_api
        """, 3),
        code("""
            word_vectors = gen_api.load('word2vec-google-news-300')
            print(word_vectors['movie'].shape)
        """, 4, out="""
            [==================================================] 100.0% 1662.8/1662.8MB downloaded
            (300,)
        """),
        md("## The dataset (sentiment_dataset_train_400 from DLStudio)"),
        code("""
            class SentimentDataset(Dataset):
                def __init__(self, path, word_vectors):
                    with gzip.open(path, 'rb') as f:
                        pos, neg, self.vocab = pickle.loads(f.read(), encoding='latin1')
                    self.samples = [(r, 1) for c in pos for r in pos[c]]
                    self.samples += [(r, 0) for c in neg for r in neg[c]]
                    random.shuffle(self.samples)
                    self.wv = word_vectors

                def __len__(self):
                    return len(self.samples)

                def __getitem__(self, i):
                    review, label = self.samples[i]
                    vecs = [self.wv[w] for w in review if w in self.wv.key_to_index]
                    return torch.tensor(np.array(vecs)), label

            train_set = SentimentDataset('/content/data/sentiment_dataset_train_400.tar.gz', word_vectors)
            test_set = SentimentDataset('/content/data/sentiment_dataset_test_400.tar.gz', word_vectors)
            train_loader = DataLoader(train_set, batch_size=1, shuffle=True)
            test_loader = DataLoader(test_set, batch_size=1)
        """, 5),
        md("## The network"),
        code("""
            class HW8Net(nn.Module):
                def __init__(self, input_size, hidden_size, output_size, num_layers=1):
                    super(HW8Net, self).__init__()
                    self.hidden_size = hidden_size
                    self.num_layers = num_layers
                    self.gru = nn.GRU(input_size, hidden_size, num_layers)
                    self.fc = nn.Linear(hidden_size, output_size)
                    self.relu = nn.ReLU()
                    self.logsoftmax = nn.LogSoftmax(dim=1)

                def forward(self, x):
                    # x: [T, 1, 300]; start from zeros every time
                    h0 = torch.zeros(self.num_layers, x.size(1), self.hidden_size, device=x.device)
                    out, _ = self.gru(x, h0)
                    out = self.fc(self.relu(out[-1]))
                    return self.logsoftmax(out)
        """, 6),
        code("""
            net = HW8Net(input_size=300, hidden_size=64, output_size=2)
            print(sum(p.numel() for p in net.parameters()))
        """, 7, out="70402\n"),
        md("## Training"),
        code("""
            device = torch.device('cuda:0' if torch.cuda.is_available() else 'cpu')
            net = net.to(device)
            criterion = nn.NLLLoss()
            optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
            for epoch in range(4):
                total = 0.0
                for i, (review, label) in enumerate(train_loader):
                    review = review.permute(1, 0, 2).to(device)    # [T, 1, 300]
                    output = net(review)
                    loss = criterion(output, label.to(device))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    total += loss.item()
                    if (i + 1) % 1000 == 0:
                        print(f'epoch {epoch + 1} iter {i + 1}: loss {total / 1000:.4f}')
                        total = 0.0
        """, 8, out="""
            epoch 1 iter 1000: loss 0.6914
            epoch 1 iter 2000: loss 0.6822
            epoch 1 iter 3000: loss 0.6511
            epoch 2 iter 1000: loss 0.6107
            epoch 2 iter 2000: loss 0.5886
            epoch 2 iter 3000: loss 0.5802
        """),
        code("""
            correct = 0
            with torch.no_grad():
                for review, label in test_loader:
                    output = net(review.permute(1, 0, 2).to(device))
                    correct += int(output.argmax(1).item() == label.item())
            print('test accuracy:', correct / len(test_set))
        """, 9, out="test accuracy: 0.7125\n"),
        md("## TODO: bidirectional GRU"),
        code("# TODO", None),
        code("""
            held_out = np.load('/content/drive/MyDrive/hw8/held_out_reviews.npz')
            with open('predictions.csv', 'w') as f:
                f.write('Id,Label\\n')
                for i, (ids, n) in enumerate(zip(held_out['ids'], held_out['lengths'])):
                    x = torch.from_numpy(held_out['vectors'][ids[:n]]).unsqueeze(1).to(device)
                    f.write(f'{i},{net(x).argmax(1).item()}\\n')
        """, 10),
    ]


# --- ECE 661 HW3: tom's LabRNN notebook -------------------------------------------------------

def tom() -> list:
    """The course's LabRNN notebook filled in: LSTMModel and GRUModel with forward(x, length),
    built with vocab_size=len(vocab), which only the training data can say."""
    return [
        md("""
            # ECE 661 Lab 3: Recurrent Neural Networks (LabRNN)
            Tom Becker (tb211). IMDB sentiment with an LSTM and a GRU; target: at least 84% test
            accuracy.
        """),
        code("""
            !pip install -q datasets
            !nvidia-smi -L
        """, 1, out="GPU 0: Tesla T4 (UUID: GPU-1b7e9c44-20d3-8f55-a1c0-6e2d4b9f7a31)\n"),
        code("""
            from google.colab import drive
            drive.mount('/content/drive')
            %cd /content/drive/MyDrive/ECE661/HW3
        """, 2, out="Mounted at /content/drive\n/content/drive/MyDrive/ECE661/HW3\n"),
        code("""
            import re
            import time
            from collections import Counter
            from typing import List

            import numpy as np
            import torch
            import torch.nn as nn
            import torch.optim as optim
            from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
            from torch.utils.data import DataLoader, Dataset
            from datasets import load_dataset
            from tqdm import tqdm

            device = 'cuda' if torch.cuda.is_available() else 'cpu'
        """, 3),
        md("## Step 1: data and vocabulary"),
        code("""
            # a few arguments, do NOT change these
            MAX_VOCAB = 20000
            MAX_LEN = 400
            BATCH_SIZE = 64
            EMBED_DIM = 128
            HIDDEN_SIZE = 128
        """, 4),
        code("""
            imdb = load_dataset('imdb')

            def tokenize(text: str) -> List[str]:
                text = re.sub(r'<br\\s*/?>', ' ', text.lower())
                return re.findall(r"[a-z0-9']+", text)

            counter = Counter()
            for example in imdb['train']:
                counter.update(tokenize(example['text']))
            vocab = {'<pad>': 0, '<unk>': 1}
            for word, _ in counter.most_common(MAX_VOCAB - 2):
                vocab[word] = len(vocab)
            print('vocabulary size:', len(vocab))


            class IMDBDataset(Dataset):
                def __init__(self, split):
                    self.data = imdb[split]

                def __len__(self):
                    return len(self.data)

                def __getitem__(self, i):
                    tokens = tokenize(self.data[i]['text'])[:MAX_LEN]
                    ids = [vocab.get(t, 1) for t in tokens] or [1]
                    return torch.tensor(ids), self.data[i]['label']


            def collate(batch):
                ids, labels = zip(*batch)
                lengths = torch.tensor([len(x) for x in ids])
                return pad_sequence(ids, batch_first=True, padding_value=0), lengths, torch.tensor(labels)


            train_loader = DataLoader(IMDBDataset('train'), batch_size=BATCH_SIZE, shuffle=True,
                                      collate_fn=collate)
            test_loader = DataLoader(IMDBDataset('test'), batch_size=BATCH_SIZE, collate_fn=collate)
        """, 5, out="vocabulary size: 20000\n"),
        md("""
            ## Step 2: the models
            TODO: complete `LSTMModel` and `GRUModel`. `forward(x, length)` takes padded token
            ids `[B, T]` and the true lengths, and returns class scores `[B, 2]`.
        """),
        code("""
            class LSTMModel(nn.Module):
                def __init__(self, vocab_size, embedding_dim=EMBED_DIM, hidden_size=HIDDEN_SIZE,
                             num_layers=1, num_classes=2, dropout=0.3):
                    super(LSTMModel, self).__init__()
                    self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
                    self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True)
                    self.dropout = nn.Dropout(dropout)
                    self.fc = nn.Linear(hidden_size, num_classes)

                def forward(self, x, length):
                    emb = self.embedding(x)
                    packed = pack_padded_sequence(emb, length.cpu(), batch_first=True,
                                                  enforce_sorted=False)
                    _, (h_n, c_n) = self.lstm(packed)
                    return self.fc(self.dropout(h_n[-1]))


            class GRUModel(nn.Module):
                def __init__(self, vocab_size, embedding_dim=EMBED_DIM, hidden_size=HIDDEN_SIZE,
                             num_layers=1, num_classes=2, dropout=0.3):
                    super(GRUModel, self).__init__()
                    self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
                    self.gru = nn.GRU(embedding_dim, hidden_size, num_layers, batch_first=True)
                    self.dropout = nn.Dropout(dropout)
                    self.fc = nn.Linear(hidden_size, num_classes)

                def forward(self, x, length):
                    emb = self.embedding(x)
                    packed = pack_padded_sequence(emb, length.cpu(), batch_first=True,
                                                  enforce_sorted=False)
                    _, h_n = self.gru(packed)
                    return self.fc(self.dropout(h_n[-1]))
        """, 6),
        md("## Step 3: training"),
        code("""
            def train(model, epochs=5, lr=1e-3):
                criterion = nn.CrossEntropyLoss()
                optimizer = optim.Adam(model.parameters(), lr=lr)
                for epoch in range(epochs):
                    model.train()
                    total, correct, running = 0, 0, 0.0
                    for x, length, y in tqdm(train_loader):
                        x, y = x.to(device), y.to(device)
                        optimizer.zero_grad()
                        out = model(x, length)
                        loss = criterion(out, y)
                        loss.backward()
                        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                        optimizer.step()
                        running += loss.item()
                        correct += (out.argmax(1) == y).sum().item()
                        total += y.size(0)
                    print(f'epoch {epoch + 1}: loss {running / len(train_loader):.4f}, '
                          f'train acc {correct / total:.4f}')


            def evaluate(model):
                model.eval()
                correct, total = 0, 0
                with torch.no_grad():
                    for x, length, y in test_loader:
                        out = model(x.to(device), length)
                        correct += (out.argmax(1).cpu() == y).sum().item()
                        total += y.size(0)
                return correct / total
        """, 7),
        code("""
            lstm_model = LSTMModel(vocab_size=len(vocab), embedding_dim=EMBED_DIM,
                                   hidden_size=HIDDEN_SIZE).to(device)
            train(lstm_model)
            print('LSTM test accuracy:', evaluate(lstm_model))
        """, 8, out="""
            epoch 1: loss 0.5931, train acc 0.6716
            epoch 2: loss 0.3874, train acc 0.8333
            epoch 3: loss 0.2861, train acc 0.8858
            epoch 4: loss 0.2159, train acc 0.9187
            epoch 5: loss 0.1577, train acc 0.9441
            LSTM test accuracy: 0.8762
        """),
        code("""
            gru_model = GRUModel(vocab_size=len(vocab), embedding_dim=EMBED_DIM,
                                 hidden_size=HIDDEN_SIZE).to(device)
            train(gru_model)
            print('GRU test accuracy:', evaluate(gru_model))
        """, 9, out="""
            epoch 1: loss 0.5528, train acc 0.7032
            epoch 2: loss 0.3390, train acc 0.8551
            epoch 3: loss 0.2473, train acc 0.9020
            epoch 4: loss 0.1808, train acc 0.9335
            epoch 5: loss 0.1247, train acc 0.9568
            GRU test accuracy: 0.8831
        """),
        md("## Step 4: predictions for the held-out reviews"),
        code("""
            held_out = np.load('held_out_ids.npz')
            gru_model.eval()
            with torch.no_grad(), open('predictions.csv', 'w') as f:
                f.write('id,label\\n')
                ids = torch.from_numpy(held_out['ids']).to(device)
                lengths = torch.from_numpy(held_out['lengths'])
                preds = gru_model(ids, lengths).argmax(1).tolist()
                for i, p in enumerate(preds):
                    f.write(f'{i},{p}\\n')
        """, 10),
    ]


NOTEBOOKS = {
    "submissions/ece60146-hw5-2023/quinn/hw5.ipynb": quinn,
    "submissions/ece60146-hw8/sara/hw8.ipynb": sara,
    "submissions/ece661-hw3-rnn/tom/LabRNN.ipynb": tom,
}


# --- predictions.csv ---------------------------------------------------------------------------

# assignment -> (first seed: the i-th student's is seed + i, students), where a student is
# (fraction of labels right, header, boxes: None | ("x1y1x2y2" | "xywh", noise's std))
PREDICTIONS = {
    "ece60146-hw5-2023": (5000, {
        "priya": (0.85, "Id,Label,x1,y1,x2,y2", ("x1y1x2y2", 0.03)),
        # COCO's x, y, width, height, scaled to 0..1, under the x1,y1,x2,y2 header
        "quinn": (0.78, "Id,Label,x1,y1,x2,y2", ("xywh", 0.05)),
    }),
    "ece60146-hw8": (5100, {
        "ravi": (0.92, "Id,Label", None),
        "sara": (0.72, "Id,Label", None),
    }),
    "ece661-hw3-rnn": (5200, {
        "tom": (0.89, "id,label", None),
        "uma": (0.75, "id,label", None),
    }),
}


def noisy_boxes(boxes: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    """The boxes plus Gaussian noise, clipped to 0..1, each still x1 <= x2 and y1 <= y2."""
    noisy = np.clip(boxes + rng.normal(0.0, std, boxes.shape), 0.0, 1.0)
    x1, x2 = np.minimum(noisy[:, 0], noisy[:, 2]), np.maximum(noisy[:, 0], noisy[:, 2])
    y1, y2 = np.minimum(noisy[:, 1], noisy[:, 3]), np.maximum(noisy[:, 1], noisy[:, 3])
    return np.stack([x1, y1, x2, y2], 1)


def box_predictions(labels: np.ndarray, boxes: np.ndarray, num_classes: int, seed: int,
                    correct: float, header: str, style: str, std: float) -> tuple[bytes, str]:
    """A localization predictions.csv: labels as make_predictions.py corrupts them, boxes
    near the truth (style "xywh": written as x, y, width, height); and what it holds."""
    rng = np.random.default_rng(seed)
    preds = labels.copy()
    wrong = rng.random(len(preds)) > correct
    preds[wrong] = (preds[wrong] + rng.integers(1, num_classes, wrong.sum())) % num_classes
    near = noisy_boxes(boxes, rng, std)
    if style == "xywh":
        near[:, 2:] -= near[:, :2]
    rows = [header] + [f"{j},{p}," + ",".join(f"{v:.4f}" for v in box)
                       for j, (p, box) in enumerate(zip(preds, near))]
    flipped = np.mean((near[:, 2] < near[:, 0]) | (near[:, 3] < near[:, 1]))
    return ("\n".join(rows) + "\n").encode(), (
        f"{(preds == labels).mean():.1%} labels right, boxes as {style}"
        + (f", {flipped:.0%} of rows with x2 < x1 or y2 < y1" if flipped else ""))


def write_predictions() -> None:
    from grader.inputs.data import default_cache_dir, load_dataset
    from grader.spec import load

    for assignment_id, (first_seed, students) in PREDICTIONS.items():
        assignment = load(assignment_id)
        dataset = load_dataset(assignment.dataset, None, cache_dir=default_cache_dir() / "data",
                               task=assignment.task.kind)
        labels = np.asarray(dataset.test_labels)
        rows = assignment.predictions.rows
        if len(labels) != rows:
            raise SystemExit(f"{assignment_id}: the stand-in holds {len(labels)} held-out "
                             f"examples, the spec's [predictions] rows = {rows}")
        for i, (student, (correct, header, boxes)) in enumerate(students.items()):
            if boxes is None:
                data, share = predictions_file(labels, assignment.dataset.class_names,
                                               first_seed + i, correct, "index", header,
                                               "\n", False)
                what = f"{share:.1%} correct"
            else:
                data, what = box_predictions(labels, np.asarray(dataset.test_boxes),
                                             assignment.dataset.num_classes, first_seed + i,
                                             correct, header, *boxes)
            (HERE / assignment_id / student / "predictions.csv").write_bytes(data)
            print(f"{assignment_id}/{student}: {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks-only", action="store_true",
                        help="write the notebooks, not the predictions.csv files")
    args = parser.parse_args()
    for relpath, cells in NOTEBOOKS.items():
        path = write(relpath, cells(), COLAB)
        print(path.relative_to(HERE.parent))
    if not args.notebooks_only:
        write_predictions()


if __name__ == "__main__":
    main()
